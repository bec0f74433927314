"""PyMuPDF at the boundary of the result package.

PyMuPDF's annotations are partial; it is handled as untyped here, as elsewhere in the project.
"""

from __future__ import annotations

from typing import Any, TypeAlias

import pymupdf as _pymupdf

pymupdf: Any = _pymupdf
Page: TypeAlias = Any
Document: TypeAlias = Any
Rect: TypeAlias = Any
