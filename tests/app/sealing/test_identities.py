"""Importing signing identities: good bundles are stored encrypted; bad ones are refused, nothing stored."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.errors import Conflict, Forbidden, Invalid, ServiceUnavailable
from app.identity.principal import Principal
from app.sealing import identities, vault
from app.settings import Settings
from signing.pki import Organisation, issue_signing_pkcs12, load_pkcs12
from storage.models import Organization, OrgKind, Role, SigningIdentity
from tests.app.sealing.conftest import ADMIN
from tests.support.pki import PASSWORD, SigningPki


@pytest.fixture
def department(session: Session) -> Organization:
    organization = Organization(name="江城市消防救援支队", kind=OrgKind.DEPARTMENT, department_code="fire")
    session.add(organization)
    session.flush()
    return organization


def _count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(SigningIdentity)) or 0)


def _import(session: Session, settings: Settings, org: Organization, data: bytes, password: str) -> SigningIdentity:
    return identities.import_pkcs12(session, settings, ADMIN, org.id, data=data, password=password)


def test_a_bundle_is_stored_encrypted_and_opens_again(
    session: Session, settings: Settings, test_pki: SigningPki, department: Organization
) -> None:
    bundle = test_pki.pki.signers["fire"]
    identity = _import(session, settings, department, bundle, PASSWORD.decode())
    assert identity.active
    assert identity.kind == "pkcs12"
    assert "某市消防救援支队" in identity.subject
    assert identity.pkcs12_sealed is not None
    assert PASSWORD.decode() not in identity.pkcs12_sealed
    # The stored chain reaches up to the trust root: leaf and issuing CA.
    assert identity.certificate_pem.count("BEGIN CERTIFICATE") == 2
    data, password = vault.open_bundle(
        settings.effective_signing_key, identity.fingerprint_sha256, identity.pkcs12_sealed
    )
    assert (data, password) == (bundle, PASSWORD)
    with identities.open_signer(settings, identity) as signer:
        assert signer.signing_cert is not None
        assert signer.signing_cert.subject.native["common_name"] == "某市消防救援支队"


def test_a_new_identity_replaces_the_active_one(
    session: Session, settings: Settings, test_pki: SigningPki, department: Organization
) -> None:
    first = _import(session, settings, department, test_pki.pki.signers["fire"], PASSWORD.decode())
    second = _import(session, settings, department, test_pki.pki.signers["civil_defence"], PASSWORD.decode())
    session.refresh(first)
    assert not first.active
    assert second.active
    assert identities.active_identity(session, department.id) == second
    identities.deactivate(session, ADMIN, second.id)
    assert identities.active_identity(session, department.id) is None
    assert _count(session) == 2


def test_a_sealed_bundle_does_not_open_under_another_key_or_row(
    session: Session, settings: Settings, test_pki: SigningPki, department: Organization
) -> None:
    identity = _import(session, settings, department, test_pki.pki.signers["fire"], PASSWORD.decode())
    assert identity.pkcs12_sealed is not None
    with pytest.raises(ServiceUnavailable):
        vault.open_bundle(b"k" * 32, identity.fingerprint_sha256, identity.pkcs12_sealed)
    with pytest.raises(ServiceUnavailable):
        vault.open_bundle(settings.effective_signing_key, "0" * 64, identity.pkcs12_sealed)


def _expired_bundle(test_pki: SigningPki) -> bytes:
    now = dt.datetime.now(dt.UTC)
    return issue_signing_pkcs12(
        test_pki.pki.issuing_pkcs12,
        PASSWORD,
        Organisation("过期单位", "过期单位", "施工图审查", "expired"),
        not_before=now - dt.timedelta(days=400),
        not_after=now - dt.timedelta(days=1),
    )


def _mismatched_bundle(test_pki: SigningPki) -> bytes:
    fire = load_pkcs12(test_pki.pki.signers["fire"], PASSWORD)
    other = load_pkcs12(test_pki.pki.signers["construction"], PASSWORD)
    # The certificate travels as a chain entry, so that the bundle can be written at all.
    return pkcs12.serialize_key_and_certificates(
        b"mixed", other.key, None, [fire.certificate], serialization.BestAvailableEncryption(PASSWORD)
    )


@pytest.mark.parametrize(
    ("make", "password", "zh", "en"),
    [
        (lambda pki, other: pki.pki.signers["fire"], "wrong-password", "密码错误", "wrong password"),
        (lambda pki, other: b"not a certificate", PASSWORD.decode(), "密码错误", "not a PKCS#12"),
        (lambda pki, other: _expired_bundle(pki), PASSWORD.decode(), "已过期", "has expired"),
        (lambda pki, other: _mismatched_bundle(pki), PASSWORD.decode(), "不匹配", "does not match"),
        (lambda pki, other: other.signers["impostor"], PASSWORD.decode(), "信任根", "trust root"),
        (lambda pki, other: b"", PASSWORD.decode(), "请选择证书文件", "Choose a certificate"),
        (lambda pki, other: b"0" * (identities.MAX_PKCS12_BYTES + 1), PASSWORD.decode(), "过大", "too large"),
    ],
    ids=["wrong-password", "not-pkcs12", "expired", "key-mismatch", "untrusted", "empty", "too-large"],
)
def test_bad_bundles_are_refused_in_both_languages_and_nothing_is_stored(
    session: Session,
    settings: Settings,
    test_pki: SigningPki,
    other_pki,  # type: ignore[no-untyped-def]
    department: Organization,
    make,  # type: ignore[no-untyped-def]
    password: str,
    zh: str,
    en: str,
) -> None:
    with pytest.raises(Invalid) as refused:
        _import(session, settings, department, make(test_pki, other_pki), password)
    assert zh in refused.value.zh
    assert en in refused.value.en
    assert _count(session) == 0


def test_no_trust_roots_configured_is_a_clear_refusal(
    session: Session, tmp_path, test_pki: SigningPki, department: Organization
) -> None:  # type: ignore[no-untyped-def]
    from app.settings import load_settings

    bare = load_settings({"LIANTU_DATA_DIR": str(tmp_path / "bare"), "LIANTU_SECRET_KEY": "s" * 40})
    with pytest.raises(Invalid) as refused:
        _import(session, bare, department, test_pki.pki.signers["fire"], PASSWORD.decode())
    assert "LIANTU_TRUST_ROOTS" in refused.value.en
    assert _count(session) == 0


def test_the_same_certificate_twice_is_a_conflict(
    session: Session, settings: Settings, test_pki: SigningPki, department: Organization
) -> None:
    _import(session, settings, department, test_pki.pki.signers["fire"], PASSWORD.decode())
    with pytest.raises(Conflict):
        _import(session, settings, department, test_pki.pki.signers["fire"], PASSWORD.decode())
    assert _count(session) == 1


def test_only_administrators_import_and_only_for_sealing_organisations(
    session: Session, settings: Settings, test_pki: SigningPki, department: Organization
) -> None:
    clerk = Principal(5, "clerk", "刘敏", 1, OrgKind.REVIEW_AGENCY, "审查中心", frozenset({(Role.INTAKE_CLERK, None)}))
    with pytest.raises(Forbidden):
        identities.import_pkcs12(
            session, settings, clerk, department.id, data=test_pki.pki.signers["fire"], password=PASSWORD.decode()
        )
    institute = Organization(name="设计院", kind=OrgKind.DESIGN_INSTITUTE)
    session.add(institute)
    session.flush()
    with pytest.raises(Invalid) as refused:
        _import(session, settings, institute, test_pki.pki.signers["fire"], PASSWORD.decode())
    assert "不是签章单位" in refused.value.zh
    assert _count(session) == 0


def test_production_needs_the_signing_key_before_identities_are_stored(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from app.settings import SettingsError, load_settings

    production = load_settings(
        {"LIANTU_MODE": "production", "LIANTU_SECRET_KEY": "s" * 40, "LIANTU_DATA_DIR": str(tmp_path)}
        | {"LIANTU_PAYMENT_SECRET": "p" * 40}
    )
    with pytest.raises(SettingsError, match="LIANTU_SIGNING_KEY"):
        _ = production.effective_signing_key
    keyed = load_settings(
        {
            "LIANTU_MODE": "production",
            "LIANTU_SECRET_KEY": "s" * 40,
            "LIANTU_PAYMENT_SECRET": "p" * 40,
            "LIANTU_SIGNING_KEY": "k" * 40,
            "LIANTU_DATA_DIR": str(tmp_path),
        }
    )
    assert len(keyed.effective_signing_key) == 32
