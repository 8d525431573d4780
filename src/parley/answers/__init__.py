"""The answer path's model-independent parts: numbered sources, the offline extractive
answerer, citation parsing, groundedness with attributions, and follow-up questions."""
