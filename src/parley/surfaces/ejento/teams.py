"""Ejento V2 endpoints: teams (being written)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
