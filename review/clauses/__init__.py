"""Catalogue of code clauses reviewers cite (规范条文目录).

The packaged data lists clauses of the general codes by number and topic (our own short summaries, never
the clause text); a bureau extends it with its own JSON files in the same format.
"""

from review.clauses.catalogue import (
    TRACKS,
    Catalogue,
    CatalogueInvalid,
    Clause,
    Standard,
    load_catalogue,
    load_catalogue_bytes,
)

__all__ = [
    "TRACKS",
    "Catalogue",
    "CatalogueInvalid",
    "Clause",
    "Standard",
    "load_catalogue",
    "load_catalogue_bytes",
]
