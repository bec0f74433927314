"""The construction permit PDF (建筑工程施工许可证), typeset with Noto CJK and ready for the bureau's seal.

One A4 page: title, permit number, the project's data, the joint review result it was issued on
(review number and SHA-256 of the sealed file), the issuing bureau and date, a QR code to the
public verification page, and one empty signature field over the seal box. Like the result, it
carries no annotations: the bureau's certification signature is the first and only change.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass

from signing.qr import draw_qr, make_qr
from signing.result.certificate import A4_HEIGHT, A4_WIDTH, chinese_date
from signing.result.mupdf import pymupdf
from signing.result.table import HEADER_FILL, Cell, draw_row, frame
from signing.result.typeset import SEAL_RED, Face, Typesetter
from signing.sign import SignatureFieldSpec, prepare_result

TITLE = "中华人民共和国\n建筑工程施工许可证"
FIELD_NAME = "bureau"
SEAL_BOX = (368, 120, 528, 280)
"""The bureau's seal box on the page, in PDF points from the lower-left corner."""
MARGIN = 56.0
LABEL_WIDTH = 128.0

# PyMuPDF is not thread-safe; permits are composed one at a time in a process.
_MUPDF = threading.Lock()


@dataclass(frozen=True)
class PermitData:
    """Everything printed on the permit."""

    number: str
    """Permit number (编号)."""
    construction_unit: str
    """Construction unit (建设单位)."""
    project_name: str
    """Project name (工程名称)."""
    project_code: str
    """Project code (项目代码)."""
    address: str
    """Site address (建设地址)."""
    scale: str
    """Construction scale (建设规模), e.g. 总建筑面积 12,345.6 m²，地上 18 层、地下 2 层."""
    design_institute: str
    """Design institute (设计单位)."""
    review_number: str
    """Review number of the joint review result (施工图审查合格书编号)."""
    result_sha256: str
    """SHA-256 of the sealed result file the permit was issued on."""
    bureau: str
    """Issuing authority (发证机关)."""
    issued_on: dt.date
    """Issue date (发证日期)."""
    verification_url: str
    """Public verification page; the QR code points here."""


def compose_permit(data: PermitData) -> bytes:
    """The permit PDF with its empty, locking signature field."""
    with _MUPDF:
        pdf = _draw(data)
    return prepare_result(pdf, [SignatureFieldSpec(FIELD_NAME, 0, SEAL_BOX, data.bureau)])


def _draw(data: PermitData) -> bytes:
    typesetter = Typesetter()
    doc = pymupdf.open()
    try:
        page = doc.new_page(width=A4_WIDTH, height=A4_HEIGHT)
        page.draw_rect(pymupdf.Rect(24, 24, A4_WIDTH - 24, A4_HEIGHT - 24), color=SEAL_RED, width=2.4)
        page.draw_rect(pymupdf.Rect(30, 30, A4_WIDTH - 30, A4_HEIGHT - 30), color=SEAL_RED, width=0.6)
        y = 92.0
        for line in TITLE.split("\n"):
            size = 15 if line.startswith("中华") else 28
            typesetter.text(page, (A4_WIDTH / 2, y), line, Face.TITLE, size, align="centre")
            y += 40
        typesetter.text(page, (A4_WIDTH / 2, y - 4), f"编号：{data.number}", Face.LABEL, 11, align="centre")
        typesetter.text(
            page,
            (A4_WIDTH / 2, y + 24),
            "根据《中华人民共和国建筑法》第八条规定，经审查，本建筑工程符合施工条件，准予施工。",
            Face.BODY,
            10.5,
            align="centre",
        )
        top = y + 44
        widths = (LABEL_WIDTH, A4_WIDTH - 2 * MARGIN - LABEL_WIDTH)
        rows = [
            ("建设单位", data.construction_unit),
            ("工程名称", data.project_name),
            ("项目代码", data.project_code),
            ("建设地址", data.address),
            ("建设规模", data.scale),
            ("设计单位", data.design_institute),
            ("施工图联合审查编号", data.review_number),
            ("联审结果文件 SHA-256", data.result_sha256),
        ]
        bottom = top
        for label, value in rows:
            face = Face.MONO if label.endswith("SHA-256") else Face.BODY
            bottom = draw_row(
                page,
                typesetter,
                left=MARGIN,
                top=bottom,
                widths=widths,
                cells=[
                    Cell(label, Face.LABEL, 10, fill=HEADER_FILL, align="centre"),
                    Cell(value or "—", face, 10 if face is Face.BODY else 8, max_lines=2),
                ],
                height=34,
            )
        frame(page, pymupdf.Rect(MARGIN, top, A4_WIDTH - MARGIN, bottom))

        qr = make_qr(data.verification_url)
        module = 2.0
        qr_top = A4_HEIGHT - SEAL_BOX[3] - 6
        area = draw_qr(page, qr, (MARGIN + 6, qr_top), module)
        typesetter.text(page, (area.x0 + 8, area.y1 + 12), "扫码验证真伪", Face.LABEL, 8.5)
        x0, y0, x1, y1 = SEAL_BOX
        seal = pymupdf.Rect(x0, A4_HEIGHT - y1, x1, A4_HEIGHT - y0)
        page.draw_rect(seal, color=SEAL_RED, width=0.8, dashes="[3 2] 0")
        typesetter.text(page, (seal.x0 + seal.width / 2, seal.y1 + 16), data.bureau, Face.HEADING, 10.5, align="centre")
        typesetter.text(
            page,
            (seal.x0 + seal.width / 2, seal.y1 + 32),
            f"发证日期：{chinese_date(data.issued_on)}",
            Face.BODY,
            10,
            align="centre",
        )
        typesetter.text(page, (A4_WIDTH / 2, A4_HEIGHT - 40), data.verification_url, Face.MONO, 7, align="centre")
        typesetter.burn(doc)
        doc.set_metadata(
            {
                "title": f"建筑工程施工许可证（{data.number}）",
                "subject": f"{data.project_name} 施工许可",
                "author": data.bureau,
                "keywords": f"{data.number}, {data.project_code}, {data.review_number}",
                "creator": "联图 Liantu",
                "producer": "联图 Liantu",
            }
        )
        pdf: bytes = doc.tobytes(garbage=3, deflate=True)
        return pdf
    finally:
        doc.close()
