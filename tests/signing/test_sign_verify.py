"""Three departments seal one result; verification catches every kind of tampering."""

from __future__ import annotations

import datetime as dt
import io
import re
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pymupdf
import pytest
from asn1crypto import crl as asn1_crl
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.sign.validation.dss import DocumentSecurityStore

from signing.errors import CertificateExpired, FieldProblem, TimestampUnavailable, UnsignablePdf
from signing.pki import Organisation, issue_signing_pkcs12, load_pkcs12, make_crl, signer_from_identity
from signing.sign import SignatureFieldSpec, SignatureRole, prepare_result, renew_archive_timestamp, sign
from signing.verify import Coverage, Modification, verify
from tests.support.pki import SIGNER_VALIDITY, SigningPki

FIELDS = [
    SignatureFieldSpec("fire", -1, (40, 40, 190, 210), "消防审查"),
    SignatureFieldSpec("civil_defence", -1, (220, 40, 370, 210), "人防审查"),
    SignatureFieldSpec("construction", -1, (400, 40, 550, 210), "施工图审查"),
]
ROLES = [SignatureRole.FIRST_CERTIFY, SignatureRole.APPROVE, SignatureRole.LAST_LOCK]


def result_pdf(pages: int = 3) -> bytes:
    doc = pymupdf.open()
    for number in range(pages):
        page = doc.new_page(width=595, height=842)
        page.insert_text((60, 80), f"Joint review result, page {number + 1}", fontsize=14)
        page.draw_rect(pymupdf.Rect(60, 120, 535, 400), color=(0, 0, 0))
        page.draw_line((60, 120), (535, 400))
    data = doc.tobytes()
    doc.close()
    return data


@dataclass(frozen=True)
class Chain:
    prepared: bytes
    revisions: tuple[bytes, ...]

    @property
    def final(self) -> bytes:
        return self.revisions[-1]


def seal(pdf: bytes, test_pki: SigningPki, index: int) -> bytes:
    spec = FIELDS[index]
    return sign(
        pdf,
        field_name=spec.name,
        signer=test_pki.signer(spec.name),
        seal_png=test_pki.seal(spec.name),
        role=ROLES[index],
        timestamper_url=None if index == 0 else test_pki.timestamp_url,
        trust_roots=test_pki.trust_roots,
    )


@pytest.fixture(scope="module")
def chain(test_pki: SigningPki) -> Chain:
    prepared = prepare_result(result_pdf(), FIELDS)
    revisions = []
    pdf = prepared
    for index in range(3):
        pdf = seal(pdf, test_pki, index)
        revisions.append(pdf)
    return Chain(prepared, tuple(revisions))


def codes(verdict) -> set[str]:
    return {reason.code for reason in verdict.all_reasons()}


def test_three_departments_give_a_valid_long_term_result(chain: Chain, test_pki: SigningPki) -> None:
    verdict = verify(chain.final, test_pki.trust_roots)
    assert verdict.valid, verdict.all_reasons()
    assert verdict.unsigned_fields == ()
    sigs = verdict.signatures
    assert [s.field for s in sigs[:3]] == ["fire", "civil_defence", "construction"]
    assert [s.signer_common_name for s in sigs[:3]] == [d.name for d in test_pki.departments]
    assert sigs[0].signer_organisation == "某市消防救援支队"
    assert all(s.intact and s.valid and s.trusted for s in sigs)
    assert sigs[0].timestamp_time is None
    assert sigs[1].timestamp_time is not None
    assert sigs[2].timestamp_time is not None
    assert sigs[0].signing_time is not None
    # The document timestamp of PAdES B-LTA closes the file.
    assert sigs[-1].is_timestamp
    assert sigs[-1].coverage is Coverage.ENTIRE_FILE
    assert sigs[0].coverage is Coverage.ENTIRE_REVISION
    assert sigs[0].modification is Modification.FORM_FILLING
    assert sigs[2].modification is Modification.LTA_UPDATES
    assert all(s.docmdp_ok is not False for s in sigs)


def test_every_step_appends_and_keeps_the_earlier_bytes(chain: Chain) -> None:
    previous = chain.prepared
    for revision in chain.revisions:
        assert revision.startswith(previous)
        assert len(revision) > len(previous)
        previous = revision


def test_intermediate_revisions_are_valid_but_partly_unsigned(chain: Chain, test_pki: SigningPki) -> None:
    verdict = verify(chain.revisions[0], test_pki.trust_roots)
    assert verdict.valid
    assert verdict.unsigned_fields == ("civil_defence", "construction")
    assert verdict.signatures[0].coverage is Coverage.ENTIRE_FILE


def test_fields_exist_before_the_certification(chain: Chain) -> None:
    reader = PdfFileReader(io.BytesIO(chain.prepared))
    found = {name: value for name, value, _ in fields.enumerate_sig_fields(reader)}
    assert set(found) == {"fire", "civil_defence", "construction"}
    assert all(value is None for value in found.values())
    field_dict = next(
        ref.get_object() for name, _, ref in fields.enumerate_sig_fields(reader) if name == "construction"
    )
    assert field_dict["/Lock"]["/Action"] == "/All"


def test_validation_data_and_lock_are_embedded(chain: Chain) -> None:
    reader = PdfFileReader(io.BytesIO(chain.final))
    dss = reader.root["/DSS"]
    # Every department's certificate, the issuing CA, the root and the TSA: offline validation works.
    assert len(dss["/Certs"]) >= 6
    # CRLs were fetched from the loopback PKI's distribution points.
    assert len(dss["/CRLs"]) >= 2
    last = reader.embedded_signatures[2]
    assert last.sig_object["/Reference"][0]["/TransformMethod"] == "/FieldMDP"
    certification = reader.embedded_signatures[0].sig_object["/Reference"][0]
    assert certification["/TransformMethod"] == "/DocMDP"
    assert certification["/TransformParams"]["/P"] == 2


@pytest.mark.skipif(shutil.which("pdfsig") is None, reason="poppler-utils not installed")
def test_pdfsig_agrees_on_integrity(chain: Chain, tmp_path: Path) -> None:
    path = tmp_path / "result.pdf"
    path.write_bytes(chain.final)
    out = subprocess.run(["pdfsig", str(path)], capture_output=True, text=True, check=False).stdout
    assert len(re.findall(r"Signature Validation: Signature is Valid", out)) == 3
    blocks = out.split("Signature #")[1:]
    assert len(blocks) == 4
    assert "Total document signed" in blocks[-1]
    assert "Field Name: construction" in blocks[2]


def test_a_flipped_byte_is_caught(chain: Chain, test_pki: SigningPki) -> None:
    data = bytearray(chain.final)
    # Flip a byte inside the first page's content, covered by every signature.
    position = data.index(b"stream") + 20
    data[position] ^= 0x01
    verdict = verify(bytes(data), test_pki.trust_roots)
    assert not verdict.valid
    assert "not_intact" in codes(verdict) or "unreadable" in codes(verdict)


def _incremental(pdf: bytes, change) -> bytes:
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    change(writer)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_page_content_changed_in_an_incremental_update_is_caught(chain: Chain, test_pki: SigningPki) -> None:
    def overwrite(writer: IncrementalPdfFileWriter) -> None:
        page = writer.root["/Pages"]["/Kids"][0].get_object()
        stream = generic.StreamObject(stream_data=b"BT /F1 40 Tf 100 500 Td (APPROVED) Tj ET")
        page["/Contents"] = writer.add_object(stream)
        writer.update_container(page)

    tampered = _incremental(chain.final, overwrite)
    verdict = verify(tampered, test_pki.trust_roots)
    assert not verdict.valid
    assert "modified" in codes(verdict)
    assert verdict.signatures[0].modification is Modification.OTHER
    assert verdict.signatures[0].intact


def test_an_annotation_added_after_signing_is_caught(chain: Chain, test_pki: SigningPki) -> None:
    def annotate(writer: IncrementalPdfFileWriter) -> None:
        page = writer.root["/Pages"]["/Kids"][0].get_object()
        annot = generic.DictionaryObject(
            {
                generic.NameObject("/Type"): generic.NameObject("/Annot"),
                generic.NameObject("/Subtype"): generic.NameObject("/Text"),
                generic.NameObject("/Rect"): generic.ArrayObject(
                    [generic.FloatObject(v) for v in (100, 100, 120, 120)]
                ),
                generic.NameObject("/Contents"): generic.TextStringObject("同意"),
            }
        )
        annots = page.get("/Annots")
        array = annots.get_object() if annots is not None else generic.ArrayObject()
        array.append(writer.add_object(annot))
        page["/Annots"] = array
        writer.update_container(page)

    verdict = verify(_incremental(chain.final, annotate), test_pki.trust_roots)
    assert not verdict.valid
    assert "modified" in codes(verdict) or "tail_uncovered" in codes(verdict)
    assert verdict.signatures[0].modification is not None
    assert verdict.signatures[0].modification > Modification.FORM_FILLING


def test_a_removed_signature_is_caught(chain: Chain, test_pki: SigningPki) -> None:
    def remove(writer: IncrementalPdfFileWriter) -> None:
        for name, _, ref in fields.enumerate_sig_fields(writer.prev):
            if name == "civil_defence":
                field_dict = writer.get_object(ref.reference)
                del field_dict["/V"]
                writer.update_container(field_dict)

    verdict = verify(_incremental(chain.final, remove), test_pki.trust_roots)
    assert not verdict.valid
    assert "civil_defence" not in [s.field for s in verdict.signatures]
    assert "civil_defence" in verdict.unsigned_fields
    assert "modified" in codes(verdict) or "tail_uncovered" in codes(verdict)


def test_a_signature_from_an_untrusted_ca_is_caught(chain: Chain, test_pki: SigningPki, other_pki) -> None:
    impostor = signer_from_identity(load_pkcs12(other_pki.signers["impostor"], test_pki.password))
    forged = sign(
        chain.revisions[0],
        field_name="civil_defence",
        signer=impostor,
        seal_png=test_pki.seal("civil_defence"),
        role=SignatureRole.APPROVE,
        timestamper_url=test_pki.timestamp_url,
    )
    verdict = verify(forged, test_pki.trust_roots)
    assert not verdict.valid
    report = verdict.signatures[1]
    assert report.intact
    assert report.valid
    assert not report.trusted
    assert "not_trusted" in {r.code for r in report.reasons}


def test_an_expired_certificate_is_refused_when_signing_and_rejected_when_verifying(
    chain: Chain, test_pki: SigningPki
) -> None:
    now = dt.datetime.now(dt.UTC)
    expired_p12 = issue_signing_pkcs12(
        test_pki.pki.issuing_pkcs12,
        test_pki.password,
        Organisation("某市人民防空办公室", "某市人民防空办公室", "人防审查", "civil_defence"),
        not_before=now - dt.timedelta(days=400),
        not_after=now - dt.timedelta(days=30),
    )
    with pytest.raises(CertificateExpired) as refused:
        load_pkcs12(expired_p12, test_pki.password)
    assert "过期" in refused.value.zh
    identity = load_pkcs12(expired_p12, test_pki.password, check_validity=False)
    expired_signer = signer_from_identity(identity)
    with pytest.raises(CertificateExpired):
        sign(
            chain.revisions[0],
            field_name="civil_defence",
            signer=expired_signer,
            seal_png=test_pki.seal("civil_defence"),
            role=SignatureRole.APPROVE,
            timestamper_url=test_pki.timestamp_url,
        )
    # A document signed with it anyway (by another tool) is rejected.
    out = io.BytesIO()
    signers.sign_pdf(
        IncrementalPdfFileWriter(io.BytesIO(chain.revisions[0])),
        signers.PdfSignatureMetadata(field_name="civil_defence"),
        signer=expired_signer,
        existing_fields_only=True,
        output=out,
    )
    verdict = verify(out.getvalue(), test_pki.trust_roots)
    assert not verdict.valid
    assert not verdict.signatures[1].trusted
    assert verdict.signatures[0].trusted


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_timestamp_authority_leaves_the_input_unchanged(chain: Chain, test_pki: SigningPki) -> None:
    before = bytes(chain.revisions[0])
    with pytest.raises(TimestampUnavailable) as raised:
        sign(
            chain.revisions[0],
            field_name="civil_defence",
            signer=test_pki.signer("civil_defence"),
            seal_png=test_pki.seal("civil_defence"),
            role=SignatureRole.APPROVE,
            timestamper_url=f"http://127.0.0.1:{_free_port()}/tsa",
            timeout=2,
        )
    assert "时间戳" in raised.value.zh
    assert chain.revisions[0] == before


def test_signing_order_and_fields_are_enforced(chain: Chain, test_pki: SigningPki) -> None:
    with pytest.raises(FieldProblem):
        seal(chain.revisions[0], test_pki, 0)  # the field is signed already
    with pytest.raises(FieldProblem):
        sign(
            chain.prepared,
            field_name="civil_defence",
            signer=test_pki.signer("civil_defence"),
            seal_png=test_pki.seal("civil_defence"),
            role=SignatureRole.APPROVE,
            timestamper_url=test_pki.timestamp_url,
        )
    with pytest.raises(FieldProblem):
        sign(
            chain.revisions[0],
            field_name="nonexistent",
            signer=test_pki.signer("civil_defence"),
            seal_png=test_pki.seal("civil_defence"),
            role=SignatureRole.APPROVE,
            timestamper_url=test_pki.timestamp_url,
        )
    with pytest.raises(FieldProblem):
        prepare_result(chain.prepared, FIELDS)
    # The locking field is the last department's, and only after every other field is signed.
    for field_name, role in [("construction", SignatureRole.APPROVE), ("civil_defence", SignatureRole.LAST_LOCK)]:
        with pytest.raises(FieldProblem) as misplaced:
            sign(
                chain.revisions[0],
                field_name=field_name,
                signer=test_pki.signer(field_name),
                seal_png=test_pki.seal(field_name),
                role=role,
                timestamper_url=test_pki.timestamp_url,
                trust_roots=test_pki.trust_roots,
            )
        assert "锁定" in misplaced.value.zh


def test_garbage_is_a_rejection_with_a_reason(test_pki: SigningPki) -> None:
    verdict = verify(b"%PDF-1.7\nnot really a pdf", test_pki.trust_roots)
    assert not verdict.valid
    assert verdict.reasons[0].code == "unreadable"
    assert verdict.reasons[0].zh
    assert verdict.reasons[0].en
    unsigned = verify(result_pdf(1), test_pki.trust_roots)
    assert not unsigned.valid
    assert unsigned.reasons[0].code == "unsigned"


def test_the_last_department_refuses_to_lock_over_a_revoked_signature(chain: Chain, test_pki: SigningPki) -> None:
    now = dt.datetime.now(dt.UTC)
    org = Organisation("某市人民防空办公室", "某市人民防空办公室", "人防审查", "civil_defence")
    bundle = issue_signing_pkcs12(
        test_pki.pki.issuing_pkcs12,
        test_pki.password,
        org,
        not_before=now - dt.timedelta(days=1),
        not_after=now + dt.timedelta(days=30),
        crl_url=f"{test_pki.crl_base_url}/issuing.crl",
    )
    identity = load_pkcs12(bundle, test_pki.password)
    approved = sign(
        chain.revisions[0],
        field_name="civil_defence",
        signer=signer_from_identity(identity),
        seal_png=test_pki.seal("civil_defence"),
        role=SignatureRole.APPROVE,
        timestamper_url=test_pki.timestamp_url,
    )
    revoked_crl = make_crl(
        test_pki.pki.issuing_pkcs12, test_pki.password, revoked_serials=[identity.certificate.serial_number]
    )
    test_pki.server.publish_crl("issuing.crl", revoked_crl)
    try:
        with pytest.raises(UnsignablePdf) as refused:
            seal(approved, test_pki, 2)
    finally:
        test_pki.server.publish_crl("issuing.crl", test_pki.pki.crls["issuing.crl"])
    assert "证书" in refused.value.zh
    assert "revoked" in refused.value.en.lower()


def test_every_seal_is_visible_on_the_last_page(chain: Chain) -> None:
    doc = pymupdf.open(stream=chain.final, filetype="pdf")
    page = doc[-1]
    height = page.rect.height
    for spec in FIELDS:
        x0, y0, x1, y1 = spec.box
        clip = pymupdf.Rect(x0, height - y1, x1, height - y0)
        pix = page.get_pixmap(dpi=72, clip=clip)
        samples = pix.samples
        pixels = [samples[i : i + pix.n] for i in range(0, len(samples), pix.n)]
        red = sum(1 for p in pixels if p[0] > 180 and p[1] < 90 and p[2] < 90)
        dark = sum(1 for p in pixels if max(p[:3]) < 100)
        assert red > 1500, spec.name  # the seal
        assert dark > 40, spec.name  # signer name and time below it
    doc.close()


def test_validation_data_appended_after_the_document_timestamp_keeps_the_result_valid(
    chain: Chain, test_pki: SigningPki
) -> None:
    # Readers such as Acrobat append a DSS update after the last timestamp; that tail is harmless.
    stream = io.BytesIO(chain.final)
    extra_crl = asn1_crl.CertificateList.load(
        make_crl(test_pki.pki.root_pkcs12, test_pki.password, revoked_serials=[7])
    )
    DocumentSecurityStore.add_dss(stream, None, crls=[extra_crl], force_write=True)
    extended = stream.getvalue()
    assert len(extended) > len(chain.final)
    verdict = verify(extended, test_pki.trust_roots)
    assert verdict.valid, verdict.all_reasons()
    assert verdict.signatures[-1].coverage is Coverage.ENTIRE_REVISION
    assert verdict.signatures[-1].modification is Modification.LTA_UPDATES

    # Any other change after the timestamp is not.
    def rotate(writer: IncrementalPdfFileWriter) -> None:
        page = writer.root["/Pages"]["/Kids"][-1].get_object()
        page["/Rotate"] = generic.NumberObject(90)
        writer.update_container(page)

    verdict = verify(_incremental(extended, rotate), test_pki.trust_roots)
    assert not verdict.valid
    assert "tail_uncovered" in codes(verdict)


def test_the_document_timestamp_keeps_signatures_valid_after_their_certificates_expire(
    chain: Chain, test_pki: SigningPki
) -> None:
    later = dt.datetime.now(dt.UTC) + SIGNER_VALIDITY + dt.timedelta(days=200)
    verdict = verify(chain.final, test_pki.trust_roots, at=later)
    assert verdict.valid, verdict.all_reasons()
    stamp_time = verdict.signatures[-1].timestamp_time
    assert stamp_time is not None
    assert [s.trusted_at for s in verdict.signatures[:3]] == [stamp_time] * 3
    # Without a document timestamp, the same signatures are no longer trusted by then.
    partial = verify(chain.revisions[1], test_pki.trust_roots, at=later)
    assert not partial.valid
    assert {r.code for r in partial.signatures[0].reasons} >= {"not_trusted"}
    # Today no archive time is needed.
    assert all(s.trusted_at is None for s in verify(chain.final, test_pki.trust_roots).signatures)


def test_the_archive_timestamp_chain_can_be_renewed(chain: Chain, test_pki: SigningPki) -> None:
    renewed = renew_archive_timestamp(
        chain.final, timestamper_url=test_pki.timestamp_url, trust_roots=test_pki.trust_roots
    )
    assert renewed.startswith(chain.final)
    verdict = verify(renewed, test_pki.trust_roots)
    assert verdict.valid, verdict.all_reasons()
    stamps = [s for s in verdict.signatures if s.is_timestamp]
    assert len(stamps) == 2
    # pyHanko appends the new timestamp's own validation data after it: a DSS-only tail.
    assert stamps[-1].coverage in {Coverage.ENTIRE_FILE, Coverage.ENTIRE_REVISION}
    assert stamps[-1].modification in {Modification.NONE, Modification.LTA_UPDATES}
    assert stamps[0].modification is Modification.LTA_UPDATES
    assert stamps[-1].timestamp_time > stamps[0].timestamp_time
    with pytest.raises(FieldProblem):
        renew_archive_timestamp(
            chain.revisions[1], timestamper_url=test_pki.timestamp_url, trust_roots=test_pki.trust_roots
        )
