"""The Contextual AI compatible surface (``/v1``): datastores, documents, agents and query."""
