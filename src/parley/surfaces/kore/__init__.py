"""Kore.ai: the LLM and Generative AI Usage Logs API over Parley's usage records."""
