"""SuperOffice: the AI agent's chatbot endpoints (``/api/v1/Agents/AI/...``) over Parley agents."""
