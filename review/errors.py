"""Errors of the review domain."""

from __future__ import annotations


class ReviewError(Exception):
    """Root of every review-domain error."""


class UnreadableDrawing(ReviewError, ValueError):
    """A drawing file that cannot be read at all (damaged, encrypted, not a drawing)."""


class IllegalTransition(ReviewError, ValueError):
    """A workflow step that is not allowed from the current state."""
