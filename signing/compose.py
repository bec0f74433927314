"""The one result PDF all departments recognise (施工图联合审查合格书), ready to be sealed.

Order of the document: the certificate (page 1, with an empty seal box per department), the
drawing manifest (图纸目录), then every approved sheet with its review stamp. Everything visible is
burned into page content before any signature (DESIGN decision 7); the document carries no
annotations, and :func:`compose_and_prepare` adds every signature field in one revision.
"""

from __future__ import annotations

from collections.abc import Sequence

from signing.errors import SigningProblem
from signing.qr import make_qr
from signing.result.certificate import A4_HEIGHT, A4_WIDTH, TITLE, draw_certificate, seal_slots
from signing.result.manifest import draw_manifest
from signing.result.model import (
    ApprovedSheet,
    CertificateOverflow,
    ResultData,
    ResultInputInvalid,
    ResultLimits,
    SealSlot,
    SheetUnreadable,
    TrackConclusion,
    check_data,
    check_sheets,
    check_slots,
)
from signing.result.mupdf import pymupdf
from signing.result.objects import one_content_stream_per_page, unwrap_placed_pages
from signing.result.sheets import append_sheets
from signing.result.typeset import Typesetter
from signing.sign import SignatureFieldSpec, prepare_result

__all__ = [
    "ApprovedSheet",
    "CertificateOverflow",
    "ResultData",
    "ResultInputInvalid",
    "ResultLimits",
    "SealSlot",
    "SheetUnreadable",
    "TrackConclusion",
    "compose_and_prepare",
    "compose_result",
    "seal_slots",
    "signature_fields",
]

CREATOR = "联图 Liantu"
DEFAULT_LIMITS = ResultLimits()


def compose_result(
    data: ResultData,
    sheets: Sequence[ApprovedSheet],
    slots: Sequence[SealSlot],
    limits: ResultLimits = DEFAULT_LIMITS,
) -> bytes:
    """The result PDF without signature fields. Raises a :class:`signing.errors.SigningProblem` on bad input."""
    check_data(data, limits)
    check_sheets(sheets, limits)
    check_slots(slots, A4_WIDTH, A4_HEIGHT)
    qr = make_qr(data.verification_url)
    typesetter = Typesetter()
    doc = pymupdf.open()
    try:
        draw_certificate(doc, typesetter, data, slots, qr)
        draw_manifest(doc, typesetter, data, sheets)
        append_sheets(doc, typesetter, data, sheets=sheets, qr=qr, limits=limits)
        typesetter.burn(doc)
        one_content_stream_per_page(doc)
        unwrap_placed_pages(doc)
        doc.set_metadata(
            {
                "title": f"{TITLE}（{data.review_number}）",
                "subject": f"{data.project_name} 施工图联合审查结果",
                "author": "、".join(slot.department for slot in slots),
                "keywords": f"{data.review_number}, {data.project_code}, 结果互认",
                "creator": CREATOR,
                "producer": CREATOR,
            }
        )
        for page in doc:
            if page.first_annot is not None or page.first_widget is not None:
                raise SigningProblem("结果文件不得含有注释", "The result must not contain annotations")
        pdf: bytes = doc.tobytes(garbage=3, deflate=True)
        return pdf
    finally:
        doc.close()


def signature_fields(slots: Sequence[SealSlot]) -> list[SignatureFieldSpec]:
    """The signature field of every seal slot, on the certificate page, in signing order."""
    return [SignatureFieldSpec(slot.field_name, 0, slot.box, slot.department) for slot in slots]


def compose_and_prepare(
    data: ResultData,
    sheets: Sequence[ApprovedSheet],
    slots: Sequence[SealSlot],
    limits: ResultLimits = DEFAULT_LIMITS,
) -> bytes:
    """The result with every department's empty signature field: ready for :func:`signing.sign.sign`.

    The slots' order is the signing order; the last slot's field locks all fields.
    """
    return prepare_result(compose_result(data, sheets, slots, limits), signature_fields(slots))
