"""Ejento V2 endpoints: agent corpora (being written)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
