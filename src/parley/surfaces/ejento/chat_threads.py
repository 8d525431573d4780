"""Ejento V2 endpoints: chat threads (being written)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
