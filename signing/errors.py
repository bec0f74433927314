"""Errors of result composition, sealing and validation."""

from __future__ import annotations


class SigningError(Exception):
    """Root of every signing error."""
