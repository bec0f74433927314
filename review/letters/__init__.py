"""Review opinion letters (审查意见书): per track at the end of a round, and joint for the designer.

- :mod:`review.letters.model`: the value types a letter is built from.
- :mod:`review.letters.opinion_letter`: the PDF (A4, embedded Noto CJK, cropped marked regions).
- :mod:`review.letters.crops`: images of marked regions with their markups drawn in red.
"""

from review.letters.crops import Crop, CropOptions, crop_markups
from review.letters.errors import IncompleteLetter, LetterError, LetterFontMissing, UnreadableSheet
from review.letters.model import (
    SEVERITY_LABELS,
    SEVERITY_ORDER,
    STATUS_LABELS,
    ClauseCitation,
    Conclusion,
    LetterComment,
    LetterProject,
    LetterTrack,
    OpinionLetter,
)
from review.letters.opinion_letter import LetterLayout, build_combined_letter, build_opinion_letter, combine

__all__ = [
    "SEVERITY_LABELS",
    "SEVERITY_ORDER",
    "STATUS_LABELS",
    "ClauseCitation",
    "Conclusion",
    "Crop",
    "CropOptions",
    "IncompleteLetter",
    "LetterComment",
    "LetterError",
    "LetterFontMissing",
    "LetterLayout",
    "LetterProject",
    "LetterTrack",
    "OpinionLetter",
    "UnreadableSheet",
    "build_combined_letter",
    "build_opinion_letter",
    "combine",
    "crop_markups",
]
