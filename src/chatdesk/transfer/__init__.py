"""Carrying the data: ``chatdesk export``, ``import`` and ``backup`` (ADR 0027)."""
