"""Ejento V2 Legacy surface (``/v2/api/...``): envelope, field names and messages of Ejento."""
