"""Verification through the platform: the stored result, uploads, every kind of tampering, the manifest."""

from __future__ import annotations

import datetime as dt
import io
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from sqlalchemy import select

from app.errors import Invalid
from app.identity import principal_for_user
from app.verification import trust_roots, verify_stored_result, verify_upload
from signing.pki import Organisation, issue_signing_pkcs12, load_pkcs12, signer_from_identity
from signing.sign import SignatureRole, sign
from storage.db import transaction
from storage.models import User, Verification
from tests.app.permits.sealed import SealedCase, SealedFiles, make_sealed_submission, seal_files, write_trust_root
from tests.conftest import SAMPLES
from tests.support.pki import SigningPki

MAX = 16 * 1024 * 1024
PUBLIC_URL = "https://liantu.example.gov.cn"


@pytest.fixture
def web_settings_overrides(test_pki: SigningPki, tmp_path: Path) -> dict[str, str]:
    return {
        "trust_roots": str(write_trust_root(test_pki, tmp_path / "trust")),
        "tsa_url": test_pki.timestamp_url,
        "public_url": PUBLIC_URL,
    }


@pytest.fixture(scope="module")
def files(test_pki: SigningPki) -> SealedFiles:
    return seal_files(test_pki, PUBLIC_URL)


@pytest.fixture
def case(web_platform, files: SealedFiles) -> SealedCase:  # type: ignore[no-untyped-def]
    return make_sealed_submission(web_platform, files)


def _who(platform, username: str):  # type: ignore[no-untyped-def]
    with platform.sessions() as db:
        user_id = db.scalar(select(User.id).where(User.username == username))
        return principal_for_user(db, user_id)


def _upload(platform, data: bytes, who=None):  # type: ignore[no-untyped-def]
    with transaction(platform.sessions) as db:
        outcome = verify_upload(
            db, platform.store, data, trust_roots(platform.settings), name="upload.pdf", max_bytes=MAX, who=who
        )
        return outcome.valid, {r.code for r in outcome.reasons}, outcome.verification.id, outcome.matches_record


def _incremental(pdf: bytes, change) -> bytes:  # type: ignore[no-untyped-def]
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    change(writer)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_the_bureau_verifies_the_stored_result_with_its_manifest(web_platform, case: SealedCase) -> None:
    bureau = _who(web_platform, "bureau")
    with transaction(web_platform.sessions) as db:
        outcome = verify_stored_result(
            db, web_platform.store, bureau, case.submission_id, trust_roots(web_platform.settings)
        )
        assert outcome.valid, outcome.reasons
        assert outcome.matches_record
        report = outcome.verification.report
        verification_id = outcome.verification.id
    assert report["manifest_checked"] is True
    assert report["manifest_problems"] == []
    signatures = [s for s in report["signatures"] if not s["is_timestamp"]]
    assert [s["field"] for s in signatures] == ["fire", "civil_defence", "construction"]
    assert all(s["intact"] and s["trusted"] and s["organisation"] for s in signatures)
    assert signatures[1]["timestamp_time"] is not None
    with web_platform.sessions() as db:
        row = db.get(Verification, verification_id)
        assert row.verdict == "valid"
        assert row.result_id == case.result_id
        assert row.verified_by_id == bureau.user_id
        assert not row.public


def test_a_changed_original_in_the_store_fails_the_manifest_check(web_platform, case: SealedCase) -> None:
    # Originals are immutable through the store's API; a change behind its back is what the check exists for.
    path = Path(web_platform.settings.effective_store_path) / case.original_key
    path.write_bytes(path.read_bytes() + b"\n% appended")
    bureau = _who(web_platform, "bureau")
    with transaction(web_platform.sessions) as db:
        outcome = verify_stored_result(
            db, web_platform.store, bureau, case.submission_id, trust_roots(web_platform.settings)
        )
        assert not outcome.valid
        assert outcome.verdict.valid  # the signatures themselves are fine
        assert {r.code for r in outcome.reasons} == {"original_changed"}
        assert outcome.verification.report["manifest_problems"][0]["sheet"] == "建施-01"


def test_a_missing_sheet_pdf_fails_the_manifest_check(web_platform, case: SealedCase) -> None:
    web_platform.store.delete(case.sheet_key)
    bureau = _who(web_platform, "bureau")
    with transaction(web_platform.sessions) as db:
        outcome = verify_stored_result(
            db, web_platform.store, bureau, case.submission_id, trust_roots(web_platform.settings)
        )
        assert {r.code for r in outcome.reasons} == {"sheet_pdf_changed"}


def test_an_uploaded_copy_is_recognised_and_a_partial_result_is_incomplete(web_platform, case: SealedCase) -> None:
    valid, codes, _, matches = _upload(web_platform, case.final)
    assert valid, codes
    assert matches
    valid, codes, _, matches = _upload(web_platform, case.revisions[1])
    assert not valid
    assert codes == {"incomplete"}
    assert matches  # an earlier revision the platform stored


def _flip(pdf: bytes) -> bytes:
    data = bytearray(pdf)
    position = data.index(b"stream") + 20
    data[position] ^= 0x01
    return bytes(data)


def _overwrite_page(writer: IncrementalPdfFileWriter) -> None:
    page = writer.root["/Pages"]["/Kids"][0].get_object()
    page["/Contents"] = writer.add_object(generic.StreamObject(stream_data=b"BT /F1 40 Tf 100 500 Td (OK) Tj ET"))
    writer.update_container(page)


def _annotate(writer: IncrementalPdfFileWriter) -> None:
    page = writer.root["/Pages"]["/Kids"][0].get_object()
    annot = generic.DictionaryObject(
        {
            generic.NameObject("/Type"): generic.NameObject("/Annot"),
            generic.NameObject("/Subtype"): generic.NameObject("/Text"),
            generic.NameObject("/Rect"): generic.ArrayObject([generic.FloatObject(v) for v in (100, 100, 120, 120)]),
            generic.NameObject("/Contents"): generic.TextStringObject("同意"),
        }
    )
    annots = page.get("/Annots")
    array = annots.get_object() if annots is not None else generic.ArrayObject()
    array.append(writer.add_object(annot))
    page["/Annots"] = array
    writer.update_container(page)


def _remove_signature(writer: IncrementalPdfFileWriter) -> None:
    for name, _, ref in fields.enumerate_sig_fields(writer.prev):
        if name == "civil_defence":
            field_dict = writer.get_object(ref.reference)
            del field_dict["/V"]
            writer.update_container(field_dict)


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        ("flipped_byte", {"not_intact", "unreadable", "unverifiable"}),
        ("page_content", {"modified"}),
        ("annotation", {"modified", "tail_uncovered"}),
        ("removed_signature", {"modified", "tail_uncovered", "incomplete"}),
    ],
)
def test_tampered_copies_are_invalid_with_the_reason(web_platform, case: SealedCase, tamper: str, expected) -> None:  # type: ignore[no-untyped-def]
    changes = {"page_content": _overwrite_page, "annotation": _annotate, "removed_signature": _remove_signature}
    data = _flip(case.final) if tamper == "flipped_byte" else _incremental(case.final, changes[tamper])
    valid, codes, verification_id, matches = _upload(web_platform, data)
    assert not valid
    assert codes & expected, codes
    assert not matches
    with web_platform.sessions() as db:
        row = db.get(Verification, verification_id)
        assert row.verdict in {"invalid", "unknown"}
        assert row.public
        assert row.report["reasons"]
        # The review number in the file's metadata still leads to the record.
        assert row.result_id == case.result_id


def test_an_untrusted_ca_and_an_expired_certificate_are_invalid(
    web_platform, case: SealedCase, test_pki, other_pki
) -> None:  # type: ignore[no-untyped-def]
    impostor = signer_from_identity(load_pkcs12(other_pki.signers["impostor"], test_pki.password))
    forged = sign(
        case.revisions[0],
        field_name="civil_defence",
        signer=impostor,
        seal_png=test_pki.seal("civil_defence"),
        role=SignatureRole.APPROVE,
        timestamper_url=test_pki.timestamp_url,
    )
    valid, codes, _, _ = _upload(web_platform, forged)
    assert not valid
    assert "not_trusted" in codes

    now = dt.datetime.now(dt.UTC)
    expired = issue_signing_pkcs12(
        test_pki.pki.issuing_pkcs12,
        test_pki.password,
        Organisation("江城市人民防空办公室", "江城市人民防空办公室", "人防审查", "civil_defence"),
        not_before=now - dt.timedelta(days=400),
        not_after=now - dt.timedelta(days=30),
    )
    out = io.BytesIO()
    signers.sign_pdf(
        IncrementalPdfFileWriter(io.BytesIO(case.revisions[0])),
        signers.PdfSignatureMetadata(field_name="civil_defence"),
        signer=signer_from_identity(load_pkcs12(expired, test_pki.password, check_validity=False)),
        existing_fields_only=True,
        output=out,
    )
    valid, codes, _, _ = _upload(web_platform, out.getvalue())
    assert not valid
    assert "not_trusted" in codes


def test_what_is_not_a_pdf_is_refused_and_nothing_is_stored(web_platform) -> None:
    for data, words in [(b"", "空"), (b"GIF89a" + b"\0" * 100, "PDF"), (b"%PDF-" + b"x" * (MAX + 1), "MB")]:
        with pytest.raises(Invalid) as refused, transaction(web_platform.sessions) as db:
            verify_upload(db, web_platform.store, data, [], name="x", max_bytes=MAX)
        assert words in refused.value.zh
        assert refused.value.en
    with web_platform.sessions() as db:
        assert db.scalars(select(Verification)).first() is None


def test_a_parse_error_is_a_rejection(web_platform) -> None:
    valid, codes, verification_id, _ = _upload(web_platform, b"%PDF-1.7\n1 0 obj << /Type /Catalog >>\ntrailer")
    assert not valid
    assert codes == {"unreadable"}
    with web_platform.sessions() as db:
        assert db.get(Verification, verification_id).verdict == "unknown"


ATTACKS = SAMPLES / "pdf_sig_attacks"


@pytest.mark.parametrize("name", sorted(p.name for p in ATTACKS.glob("*.pdf")) or ["(samples absent)"])
def test_every_crafted_attack_is_invalid(web_platform, name: str) -> None:
    path = ATTACKS / name
    if not path.exists():
        pytest.skip("samples absent")
    valid, codes, _, _ = _upload(web_platform, path.read_bytes())
    assert not valid
    assert codes


@pytest.mark.skipif(shutil.which("pdfsig") is None, reason="poppler-utils not installed")
def test_pdfsig_agrees_on_the_stored_result(case: SealedCase, tmp_path: Path) -> None:
    path = tmp_path / "result.pdf"
    path.write_bytes(case.final)
    out = subprocess.run(["pdfsig", str(path)], capture_output=True, text=True, check=False).stdout
    assert len(re.findall(r"Signature Validation: Signature is Valid", out)) == 3
    blocks = out.split("Signature #")[1:]
    assert "Total document signed" in blocks[-1]
