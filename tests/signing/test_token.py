"""Signing with a key held on a PKCS#11 token (SoftHSM2)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pymupdf
import pytest

from signing.errors import TokenUnavailable, WrongPassword
from signing.sign import SignatureFieldSpec, SignatureRole, prepare_result, sign
from signing.token import SOFTHSM_LIBRARY, import_pkcs12, token_signer
from signing.verify import verify
from tests.support.pki import SigningPki

PIN = "246810"
LABEL = "liantu-test"


@pytest.fixture(scope="module")
def softhsm_token(tmp_path_factory: pytest.TempPathFactory, test_pki: SigningPki) -> Iterator[str]:
    if shutil.which("softhsm2-util") is None or not Path(SOFTHSM_LIBRARY).exists():
        pytest.skip("SoftHSM2 is not installed")
    folder = tmp_path_factory.mktemp("softhsm")
    (folder / "tokens").mkdir()
    config = folder / "softhsm2.conf"
    config.write_text(f"directories.tokendir = {folder / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
    previous = os.environ.get("SOFTHSM2_CONF")
    # SoftHSM reads its configuration when the library is first initialised in this process.
    os.environ["SOFTHSM2_CONF"] = str(config)
    try:
        subprocess.run(
            ["softhsm2-util", "--init-token", "--free", "--label", LABEL, "--pin", PIN, "--so-pin", "13579111"],
            check=True,
            capture_output=True,
        )
        import_pkcs12(
            SOFTHSM_LIBRARY,
            LABEL,
            PIN,
            test_pki.pki.signers["fire"],
            test_pki.password,
            label="fire",
            key_id=b"\x01",
        )
        yield LABEL
    finally:
        if previous is None:
            os.environ.pop("SOFTHSM2_CONF", None)
        else:
            os.environ["SOFTHSM2_CONF"] = previous


def test_a_token_key_certifies_the_result(softhsm_token: str, test_pki: SigningPki) -> None:
    doc = pymupdf.open()
    doc.new_page()
    pdf = prepare_result(doc.tobytes(), [SignatureFieldSpec("fire", 0, (50, 50, 200, 220), "消防审查")])
    chain = [test_pki.pki.issuing_certificate, test_pki.pki.root_certificate]
    with token_signer(SOFTHSM_LIBRARY, softhsm_token, PIN, key_label="fire", chain=chain) as signer:
        signed = sign(
            pdf,
            field_name="fire",
            signer=signer,
            seal_png=test_pki.seal("fire"),
            role=SignatureRole.FIRST_CERTIFY,
            timestamper_url=test_pki.timestamp_url,
        )
    verdict = verify(signed, test_pki.trust_roots)
    assert verdict.valid, verdict.all_reasons()
    assert verdict.signatures[0].signer_common_name == "某市消防救援支队"
    assert verdict.signatures[0].timestamp_time is not None


def test_token_errors_are_clear(softhsm_token: str) -> None:
    with (
        pytest.raises(WrongPassword) as wrong_pin,
        token_signer(SOFTHSM_LIBRARY, softhsm_token, "000000", key_label="fire"),
    ):
        pass
    assert "PIN" in wrong_pin.value.zh
    with pytest.raises(TokenUnavailable), token_signer(SOFTHSM_LIBRARY, softhsm_token, PIN, key_label="nobody"):
        pass
    with pytest.raises(TokenUnavailable), token_signer(SOFTHSM_LIBRARY, "no-such-token", PIN, key_label="fire"):
        pass
