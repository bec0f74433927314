"""A document with one signer (the construction permit): certification that allows no change,
validation data and a document timestamp (PAdES B-LTA)."""

from __future__ import annotations

import io

import pymupdf
import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.fields import MDPPerm

from signing.errors import FieldProblem, TimestampUnavailable
from signing.sign import SignatureFieldSpec, SignatureRole, prepare_result, sign
from signing.verify import Coverage, Modification, verify
from tests.support.pki import SigningPki

FIELD = SignatureFieldSpec("bureau", 0, (380, 40, 550, 210), "住房和城乡建设局")
SIGNER = "construction"


def permit_pdf() -> bytes:
    doc = pymupdf.open()
    page = doc.new_page(width=595, height=842)
    page.insert_text((60, 80), "Construction permit", fontsize=18)
    page.draw_rect(pymupdf.Rect(60, 120, 535, 400), color=(0, 0, 0))
    data = doc.tobytes()
    doc.close()
    return data


def seal_sole(pdf: bytes, test_pki: SigningPki, *, timestamper_url: str | None = "", trust_roots=None) -> bytes:  # type: ignore[no-untyped-def]
    return sign(
        pdf,
        field_name=FIELD.name,
        signer=test_pki.signer(SIGNER),
        seal_png=test_pki.seal(SIGNER),
        role=SignatureRole.SOLE_CERTIFY,
        timestamper_url=test_pki.timestamp_url if timestamper_url == "" else timestamper_url,
        trust_roots=test_pki.trust_roots if trust_roots is None else trust_roots,
    )


@pytest.fixture(scope="module")
def sealed(test_pki: SigningPki) -> bytes:
    return seal_sole(prepare_result(permit_pdf(), [FIELD]), test_pki)


def _incremental(pdf: bytes, change) -> bytes:  # type: ignore[no-untyped-def]
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    change(writer)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_the_sole_signature_is_long_term(sealed: bytes, test_pki: SigningPki) -> None:
    verdict = verify(sealed, test_pki.trust_roots)
    assert verdict.valid, verdict.all_reasons()
    signature, archive = verdict.signatures
    assert signature.field == "bureau"
    assert not signature.is_timestamp
    assert signature.timestamp_time is not None  # B-T: the signature's own RFC 3161 timestamp
    assert signature.coverage is Coverage.ENTIRE_REVISION
    assert signature.modification is Modification.LTA_UPDATES
    assert signature.docmdp_ok is True
    assert archive.is_timestamp  # B-LTA: the document timestamp closes the file
    assert archive.coverage is Coverage.ENTIRE_FILE


def test_the_certification_allows_no_change_and_the_validation_data_is_embedded(sealed: bytes) -> None:
    reader = PdfFileReader(io.BytesIO(sealed))
    [signature, archive] = reader.embedded_signatures
    assert signature.docmdp_level is MDPPerm.NO_CHANGES
    assert signature.sig_object["/Reference"][0]["/TransformParams"]["/P"] == 1
    assert archive.sig_object_type == "/DocTimeStamp"
    dss = reader.root["/DSS"]
    # The bureau's certificate, its CA, the root and the TSA; the CRLs fetched from the loopback PKI.
    assert len(dss["/Certs"]) >= 4
    assert len(dss["/CRLs"]) >= 2


def test_a_change_after_the_sole_signature_is_caught(sealed: bytes, test_pki: SigningPki) -> None:
    def overwrite(writer: IncrementalPdfFileWriter) -> None:
        page = writer.root["/Pages"]["/Kids"][0].get_object()
        page["/Contents"] = writer.add_object(generic.StreamObject(stream_data=b"BT /F1 40 Tf 100 500 Td (X) Tj ET"))
        writer.update_container(page)

    verdict = verify(_incremental(sealed, overwrite), test_pki.trust_roots)
    assert not verdict.valid
    assert verdict.signatures[0].modification is Modification.OTHER


def test_a_sole_signature_needs_the_only_field_a_timestamp_and_the_trust_roots(test_pki: SigningPki) -> None:
    two_fields = prepare_result(permit_pdf(), [FIELD, SignatureFieldSpec("other", 0, (40, 40, 210, 210))])
    with pytest.raises(FieldProblem) as raised:
        seal_sole(two_fields, test_pki)
    assert "other" in raised.value.en
    prepared = prepare_result(permit_pdf(), [FIELD])
    with pytest.raises(TimestampUnavailable):
        seal_sole(prepared, test_pki, timestamper_url=None)
    with pytest.raises(FieldProblem):
        seal_sole(prepared, test_pki, trust_roots=[])


def test_nothing_can_be_signed_after_the_sole_signature(sealed: bytes, test_pki: SigningPki) -> None:
    with pytest.raises(FieldProblem):
        seal_sole(sealed, test_pki)
