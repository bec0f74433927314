"""A signing key on a PKCS#11 token (SoftHSM2) registered as an identity and used to seal."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from signing.token import SOFTHSM_LIBRARY
from tests.conftest import ROOT
from tests.support.pki import PASSWORD, SigningPki

PIN = "135790"
TOKEN = "liantu-seal-test"


def test_a_token_key_is_registered_used_and_bad_labels_or_pins_are_refused(
    tmp_path: Path, test_pki: SigningPki
) -> None:
    if shutil.which("softhsm2-util") is None or not Path(SOFTHSM_LIBRARY).exists():
        pytest.skip("SoftHSM2 is not installed")
    (tmp_path / "tokens").mkdir()
    config = tmp_path / "softhsm2.conf"
    config.write_text(f"directories.tokendir = {tmp_path / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIANTU_")} | {"SOFTHSM2_CONF": str(config)}
    subprocess.run(
        ["softhsm2-util", "--init-token", "--free", "--label", TOKEN, "--pin", PIN, "--so-pin", "24681012"],
        check=True,
        capture_output=True,
        env=env,
    )
    root = x509.load_der_x509_certificate(test_pki.pki.root_certificate)
    (tmp_path / "root.pem").write_bytes(root.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "root.der").write_bytes(test_pki.pki.root_certificate)
    issuing = x509.load_der_x509_certificate(test_pki.pki.issuing_certificate)
    (tmp_path / "issuing.pem").write_bytes(issuing.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "fire.p12").write_bytes(test_pki.pki.signers["fire"])
    (tmp_path / "password").write_bytes(PASSWORD)
    (tmp_path / "seal.png").write_bytes(test_pki.seal("fire"))
    child = subprocess.run(
        [sys.executable, "-m", "tests.app.sealing.token_child", str(tmp_path), TOKEN, PIN, test_pki.timestamp_url],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert child.returncode == 0, child.stderr[-3000:]
    outcome = json.loads(child.stdout.strip().splitlines()[-1])
    assert outcome["kind"] == "pkcs11"
    assert outcome["pkcs12_sealed"] is None  # the key stays on the token
    assert "某市消防救援支队" in outcome["subject"]
    assert outcome["chain_length"] == 2
    assert outcome["valid"] is True
    assert outcome["signer"] == "某市消防救援支队"
    kind, zh, en = outcome["wrong_key"]
    assert kind == "ServiceUnavailable"
    assert "no-such-key" in zh
    assert "no-such-key" in en
    kind, zh, en = outcome["wrong_pin"]
    assert kind == "Invalid"
    assert "PIN" in zh
    assert "Wrong PIN" in en
