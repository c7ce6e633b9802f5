"""Operator console pages (server-rendered shells; data comes from the JSON API)."""

from __future__ import annotations

from fastapi import APIRouter

__all__ = ["router"]

router = APIRouter()
