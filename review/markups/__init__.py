"""Markups (审查批注): shapes in sheet coordinates, their validation and exchange formats.

- :mod:`review.markups.model`: the :class:`Markup` value and its kinds.
- :mod:`review.markups.geometry`: validation with shapely, regions, revision-cloud paths.
- :mod:`review.markups.annotation`: W3C Web Annotation JSON-LD (SvgSelector).
- :mod:`review.markups.xfdf`: XFDF (ISO 19444-1) export and hardened import.
- :mod:`review.markups.pdf_annotations`: markups written as real PDF annotations.
"""

from review.markups.errors import InvalidMarkup, MarkupError, RejectedXfdf, UnreadableAnnotation
from review.markups.geometry import (
    DEFAULT_LIMITS,
    MarkupLimits,
    cloud_svg_path,
    intersects_changes,
    region,
    validate_markup,
)
from review.markups.model import Markup, MarkupKind, Point, Rect

__all__ = [
    "DEFAULT_LIMITS",
    "InvalidMarkup",
    "Markup",
    "MarkupError",
    "MarkupKind",
    "MarkupLimits",
    "Point",
    "Rect",
    "RejectedXfdf",
    "UnreadableAnnotation",
    "cloud_svg_path",
    "intersects_changes",
    "region",
    "validate_markup",
]
