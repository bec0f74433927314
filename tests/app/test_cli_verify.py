"""``liantu verify`` gives the platform's verdict: a sealed PDF signed with the test PKI, tampered copies, attacks."""

from __future__ import annotations

import json
from pathlib import Path

import pymupdf
import pytest
from asn1crypto import pem
from click.testing import CliRunner, Result

from app.cli import cli
from signing.sign import SignatureFieldSpec, SignatureRole, prepare_result, sign
from tests.conftest import SAMPLES
from tests.support.pki import SigningPki

ATTACKS = SAMPLES / "pdf_sig_attacks"


def _run(*arguments: str | Path) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in arguments])


def _result_pdf() -> bytes:
    document = pymupdf.open()
    page = document.new_page(width=595, height=842)
    page.insert_text((60, 80), "联审结果 Joint review result", fontname="china-s", fontsize=14)
    data = bytes(document.tobytes())
    document.close()
    return data


@pytest.fixture(scope="module")
def sealed(test_pki: SigningPki, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A one-page result sealed by the fire department (certification signature)."""
    prepared = prepare_result(_result_pdf(), [SignatureFieldSpec("fire", 0, (40, 40, 190, 210), "消防审查")])
    signed = sign(
        prepared,
        field_name="fire",
        signer=test_pki.signer("fire"),
        seal_png=test_pki.seal("fire"),
        role=SignatureRole.FIRST_CERTIFY,
        timestamper_url=None,
        trust_roots=test_pki.trust_roots,
    )
    path = tmp_path_factory.mktemp("sealed") / "result.pdf"
    path.write_bytes(signed)
    return path


@pytest.fixture(scope="module")
def roots(test_pki: SigningPki, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The test PKI's root as a PEM and as a DER file."""
    folder = tmp_path_factory.mktemp("trust")
    der = test_pki.pki.root_certificate
    (folder / "root.pem").write_bytes(pem.armor("CERTIFICATE", der))
    (folder / "root.der").write_bytes(der)
    return folder / "root.pem", folder / "root.der"


def test_a_sealed_result_is_valid_with_its_trust_root(sealed: Path, roots: tuple[Path, Path]) -> None:
    result = _run("verify", sealed, "--trust", roots[0])

    assert result.exit_code == 0, result.output
    assert "有效 / verdict: VALID" in result.stdout
    assert "某市消防救援支队" in result.stdout
    assert "entire_file" in result.stdout


def test_json_reports_every_signature_field(sealed: Path, roots: tuple[Path, Path]) -> None:
    result = _run("verify", "--json", sealed, "--trust", roots[1])

    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["status"] == "valid"
    assert document["valid"] is True
    assert document["reasons"] == []
    (signature,) = document["signatures"]
    assert signature["field"] == "fire"
    assert signature["organisation"] == "某市消防救援支队"
    assert signature["intact"] is True
    assert signature["trusted"] is True
    assert signature["coverage"] == "entire_file"
    assert signature["modification"] == "none"
    assert signature["signing_time"] is not None
    assert "\\u" not in result.stdout


def test_without_trust_roots_the_signature_is_reported_untrusted(sealed: Path) -> None:
    result = _run("verify", "--json", sealed)

    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert document["trust_roots"] == []
    assert document["signatures"][0]["intact"] is True
    assert document["signatures"][0]["trusted"] is False
    assert "not_trusted" in {reason["code"] for reason in document["reasons"]}
    text = _run("verify", sealed).stdout
    assert "未提供信任根" in text
    assert "no trust roots given" in text


def test_a_tampered_byte_makes_it_invalid(sealed: Path, roots: tuple[Path, Path], tmp_path: Path) -> None:
    data = bytearray(sealed.read_bytes())
    # A byte of the binary comment on the second line: inside the signed range, harmless to parsers.
    index = data.index(b"%", 1) + 1
    data[index] ^= 0x01
    tampered = tmp_path / "tampered.pdf"
    tampered.write_bytes(bytes(data))

    result = _run("verify", tampered, "--trust", roots[0])

    assert result.exit_code == 1
    assert "无效 / INVALID" in result.stdout
    assert "not_intact" in result.stdout
    assert "签名后文件内容被改动" in result.stdout
    assert "The signed bytes were changed" in result.stdout


def test_an_unsigned_pdf_is_invalid_and_garbage_unreadable(tmp_path: Path) -> None:
    unsigned = tmp_path / "unsigned.pdf"
    unsigned.write_bytes(_result_pdf())
    garbage = tmp_path / "garbage.pdf"
    garbage.write_bytes(b"%PDF-1.7\nthis is not a PDF at all")

    assert _run("verify", unsigned).exit_code == 1
    assert "文档没有签章" in _run("verify", unsigned).stdout
    result = _run("verify", "--json", garbage)
    assert result.exit_code == 2
    assert json.loads(result.stdout)["status"] == "unreadable"
    assert _run("verify", tmp_path / "missing.pdf").exit_code == 2


def test_a_bad_trust_file_is_a_usage_error(sealed: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_bytes(b"not a certificate")

    result = _run("verify", sealed, "--trust", bad)

    assert result.exit_code == 2
    assert "--trust" in result.output


@pytest.mark.parametrize(
    "name",
    sorted(p.name for p in ATTACKS.glob("*.pdf")) if ATTACKS.exists() else ["(samples absent)"],
)
def test_crafted_attacks_are_never_valid(name: str, roots: tuple[Path, Path]) -> None:
    path = ATTACKS / name
    if not path.exists():
        pytest.skip(f"sample not available: pdf_sig_attacks/{name}")

    result = _run("verify", "--json", path, "--trust", roots[0])

    assert result.exit_code in (1, 2), result.output
    document = json.loads(result.stdout)
    assert document["valid"] is False
    assert document["reasons"]
