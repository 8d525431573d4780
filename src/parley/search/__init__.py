"""Hybrid retrieval: lexical and vector search per backend, fusion, and metadata filters."""
