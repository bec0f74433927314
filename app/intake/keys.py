"""Where derived artefacts live in the object store (派生文件的存储位置).

Every key is computed from what the artefact is made of: the SHA-256 of its source, the version of the
code that made it and the parameters it was made with. The same inputs give the same key, so a step
that finds its key already stored skips the work, and a new renderer or tiler version writes beside the
old artefacts instead of over them. Originals (``originals/…``) are never written here.
"""

from __future__ import annotations

DERIVED_PREFIX = "derived/"
DZI_NAME = "tiles.dzi"


def sheet_pdf_key(source_sha256: str, source_index: int, renderer_version: str) -> str:
    """The one-page sheet PDF cut from page or layout ``source_index`` of an original."""
    return f"{DERIVED_PREFIX}sheets/{source_sha256}/{source_index}-{renderer_version}.pdf"


def tiles_prefix(sheet_pdf_sha256: str, tiler_version: int, dpi: int) -> str:
    """The folder of a sheet PDF's Deep Zoom pyramid at ``dpi``."""
    return f"{DERIVED_PREFIX}tiles/{sheet_pdf_sha256}/{tiler_version}-{dpi}"


def dzi_key(prefix: str) -> str:
    """The ``.dzi`` descriptor of the pyramid under ``prefix``; written last, so its presence means complete."""
    return f"{prefix}/{DZI_NAME}"


def tile_key(prefix: str, name: str) -> str:
    """A tile ``<level>/<col>_<row>.png`` of the pyramid under ``prefix``."""
    return f"{prefix}/tiles_files/{name}"


def thumbnail_key(sheet_pdf_sha256: str, max_px: int) -> str:
    """The thumbnail of a sheet PDF whose longer side is ``max_px`` pixels."""
    return f"{DERIVED_PREFIX}thumbnails/{sheet_pdf_sha256}/{max_px}.png"


def entity_index_key(source_sha256: str, source_index: int, index_version: str) -> str:
    """The entity index of layout ``source_index`` of a DXF original (what the revision compare reads)."""
    return f"{DERIVED_PREFIX}entity-index/{source_sha256}/{source_index}.{index_version}.npz"
