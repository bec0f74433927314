"""Run in a child process by test_token_identity.py: SoftHSM2 reads its configuration once per process.

Puts the fire department's key on the token, registers it as an identity, signs with it, and tries
a wrong key label and a wrong PIN; prints what happened as JSON.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pymupdf
from sqlalchemy.orm import Session

from app.errors import LiantuError
from app.sealing import identities
from app.settings import load_settings
from signing.sign import SignatureFieldSpec, SignatureRole, prepare_result, sign
from signing.token import SOFTHSM_LIBRARY, import_pkcs12
from signing.verify import verify
from storage.db import make_engine, make_session_factory
from storage.migrate import upgrade
from storage.models import Organization, OrgKind
from tests.app.sealing.conftest import ADMIN


def main(workdir: Path, token: str, pin: str, tsa_url: str) -> dict[str, object]:
    bundle = (workdir / "fire.p12").read_bytes()
    password = (workdir / "password").read_bytes()
    import_pkcs12(SOFTHSM_LIBRARY, token, pin, bundle, password, label="fire-seal", key_id=b"\x07")
    settings = load_settings(
        {
            "LIANTU_DATA_DIR": str(workdir / "data"),
            "LIANTU_SECRET_KEY": "token-test-secret-key-0123456789abcdef",
            "LIANTU_TRUST_ROOTS": str(workdir / "root.pem"),
            "LIANTU_PKCS11_MODULE": SOFTHSM_LIBRARY,
            "LIANTU_PKCS11_PIN": pin,
        }
    )
    engine = make_engine(f"sqlite:///{workdir / 'token.sqlite3'}")
    upgrade(engine)
    sessions = make_session_factory(engine)
    outcome: dict[str, object] = {}
    with sessions() as session, session.begin():
        org = Organization(name="江城市消防救援支队", kind=OrgKind.DEPARTMENT, department_code="fire")
        session.add(org)
        session.flush()
        outcome["wrong_key"] = _refusal(session, settings, org.id, token, "no-such-key")
        identity = identities.import_token(
            session,
            settings,
            ADMIN,
            org.id,
            token_label=token,
            key_label="fire-seal",
            chain_pem=(workdir / "issuing.pem").read_bytes(),
        )
        outcome["kind"] = identity.kind
        outcome["subject"] = identity.subject
        outcome["pkcs12_sealed"] = identity.pkcs12_sealed
        outcome["chain_length"] = identity.certificate_pem.count("BEGIN CERTIFICATE")
        doc = pymupdf.open()
        doc.new_page()
        pdf = prepare_result(doc.tobytes(), [SignatureFieldSpec("fire", 0, (50, 50, 200, 220), "消防审查")])
        with identities.open_signer(settings, identity) as signer:
            signed = sign(
                pdf,
                field_name="fire",
                signer=signer,
                seal_png=(workdir / "seal.png").read_bytes(),
                role=SignatureRole.FIRST_CERTIFY,
                timestamper_url=tsa_url,
            )
        verdict = verify(signed, [(workdir / "root.der").read_bytes()])
        outcome["valid"] = verdict.valid
        outcome["signer"] = verdict.signatures[0].signer_common_name
    wrong_pin = settings.model_copy(update={"pkcs11_pin": "000000"})
    with sessions() as session, session.begin():
        other = Organization(name="江城市人民防空办公室", kind=OrgKind.DEPARTMENT, department_code="civil_air_defence")
        session.add(other)
        session.flush()
        outcome["wrong_pin"] = _refusal(session, wrong_pin, other.id, token, "fire-seal")
    engine.dispose()
    return outcome


def _refusal(session: Session, settings: object, org_id: int, token: str, key: str) -> list[str]:
    try:
        identities.import_token(session, settings, ADMIN, org_id, token_label=token, key_label=key)  # type: ignore[arg-type]
    except LiantuError as exc:
        return [type(exc).__name__, exc.zh, exc.en]
    return ["accepted"]


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]), ensure_ascii=False))
