"""The development PKI: certificate profiles, PKCS#12 loading and its errors."""

from __future__ import annotations

import datetime as dt
import urllib.request

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from signing.errors import CertificateExpired, KeyMismatch, SigningError, WrongPassword
from signing.pki import DOCUMENT_SIGNING, Organisation, issue_signing_pkcs12, load_pkcs12, make_crl, signer_from_pkcs12
from tests.support.pki import SigningPki


def test_signing_certificates_name_the_organisation_in_chinese(test_pki: SigningPki) -> None:
    identity = load_pkcs12(test_pki.pki.signers["fire"], test_pki.password)
    cert = identity.certificate
    assert identity.common_name == "某市消防救援支队"
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value == "消防审查"
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical
    assert usage.value.digital_signature
    assert usage.value.content_commitment
    assert not usage.value.key_cert_sign
    assert DOCUMENT_SIGNING in cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    # The chain travels with the key: issuing CA, then root.
    assert [c.subject for c in identity.chain][-1] == x509.load_der_x509_certificate(
        test_pki.pki.root_certificate
    ).subject


def test_timestamp_authority_has_a_critical_time_stamping_usage(test_pki: SigningPki) -> None:
    cert = load_pkcs12(test_pki.pki.tsa_pkcs12, test_pki.password).certificate
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert eku.critical
    assert list(eku.value) == [ExtendedKeyUsageOID.TIME_STAMPING]


def test_certificates_chain_to_the_root(test_pki: SigningPki) -> None:
    root = x509.load_der_x509_certificate(test_pki.pki.root_certificate)
    issuing = x509.load_der_x509_certificate(test_pki.pki.issuing_certificate)
    leaf = load_pkcs12(test_pki.pki.signers["construction"], test_pki.password).certificate
    leaf.verify_directly_issued_by(issuing)
    issuing.verify_directly_issued_by(root)
    assert issuing.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 0
    points = leaf.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert points[0].full_name[0].value == f"{test_pki.crl_base_url}/issuing.crl"


def test_the_tsa_server_publishes_the_crls(test_pki: SigningPki) -> None:
    with urllib.request.urlopen(f"{test_pki.crl_base_url}/issuing.crl", timeout=5) as response:
        crl = x509.load_der_x509_crl(response.read())
    issuing = x509.load_der_x509_certificate(test_pki.pki.issuing_certificate)
    assert crl.is_signature_valid(issuing.public_key())  # type: ignore[arg-type]
    revoked = x509.load_der_x509_crl(make_crl(test_pki.pki.issuing_pkcs12, test_pki.password, revoked_serials=[42]))
    assert revoked.get_revoked_certificate_by_serial_number(42) is not None


def test_wrong_password_is_a_clear_error(test_pki: SigningPki) -> None:
    with pytest.raises(WrongPassword) as raised:
        load_pkcs12(test_pki.pki.signers["fire"], b"not the password")
    assert "密码" in raised.value.zh
    assert "password" in raised.value.en
    assert isinstance(raised.value, SigningError)
    with pytest.raises(WrongPassword):
        signer_from_pkcs12(b"not a pkcs12 file", test_pki.password)


def test_a_key_that_does_not_match_the_certificate_is_refused(test_pki: SigningPki) -> None:
    cert = load_pkcs12(test_pki.pki.signers["fire"], test_pki.password).certificate
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    bundle = pkcs12.serialize_key_and_certificates(
        b"fire", stranger, None, [cert], BestAvailableEncryption(test_pki.password)
    )
    with pytest.raises(KeyMismatch) as raised:
        load_pkcs12(bundle, test_pki.password)
    assert "不匹配" in raised.value.zh


def test_expired_and_not_yet_valid_certificates_are_refused(test_pki: SigningPki) -> None:
    org = Organisation("某市气象局", "某市气象局", "防雷审查", "lightning")
    now = dt.datetime.now(dt.UTC)
    future = issue_signing_pkcs12(
        test_pki.pki.issuing_pkcs12,
        test_pki.password,
        org,
        not_before=now + dt.timedelta(days=10),
        not_after=now + dt.timedelta(days=400),
    )
    with pytest.raises(CertificateExpired) as raised:
        signer_from_pkcs12(future, test_pki.password)
    assert "尚未生效" in raised.value.zh
    # The same bundle is fine at a time inside its validity.
    assert load_pkcs12(future, test_pki.password, at=now + dt.timedelta(days=20)).common_name == "某市气象局"
