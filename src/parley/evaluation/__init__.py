"""Retrieval and answer quality evaluation on standard data sets."""
