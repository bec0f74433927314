"""A generated test PKI and a running RFC 3161 timestamp authority on loopback.

Session-scoped: the keys are generated once, the TSA (which also publishes the CRLs) is started
on a free port, polled until it answers, and stopped at the end of the session.
"""

from __future__ import annotations

import datetime as dt
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from pyhanko.sign import signers

from signing.pki import DevPki, Organisation, generate_dev_pki, signer_from_pkcs12
from signing.seal import SealSpec, draw_round_seal
from signing.tsa import TimestampServer

PASSWORD = b"liantu-test-password"
SIGNER_VALIDITY = dt.timedelta(days=730)

DEPARTMENTS = (
    Organisation("某市消防救援支队", "某市消防救援支队", "消防审查", "fire"),
    Organisation("某市人民防空办公室", "某市人民防空办公室", "人防审查", "civil_defence"),
    Organisation("某市住房和城乡建设局", "某市住房和城乡建设局", "施工图审查", "construction"),
)


@dataclass(frozen=True)
class SigningPki:
    """The session's PKI, its timestamp authority and helpers."""

    pki: DevPki
    password: bytes
    server: TimestampServer
    timestamp_url: str
    crl_base_url: str
    departments: tuple[Organisation, ...]

    @property
    def trust_roots(self) -> list[bytes]:
        return [self.pki.root_certificate]

    def signer(self, slug: str) -> signers.SimpleSigner:
        return signer_from_pkcs12(self.pki.signers[slug], self.password)

    def seal(self, slug: str) -> bytes:
        org = next(o for o in self.departments if o.slug == slug)
        return draw_round_seal(SealSpec(org.name, f"{org.unit}专用章", dpi=150))


def _wait_until_ready(url: str, deadline_seconds: float = 10.0) -> None:
    deadline = time.monotonic() + deadline_seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            if time.monotonic() > deadline:
                raise
        # Short, bounded back-off between readiness probes.
        time.sleep(0.02)


@pytest.fixture(scope="session")
def test_pki() -> Iterator[SigningPki]:
    server = TimestampServer()
    # The TSA outlives the signing certificates, as an archive TSA does: long-term validation is testable.
    pki = generate_dev_pki(
        DEPARTMENTS,
        password=PASSWORD,
        crl_base_url=server.endpoints.crl_base_url,
        validity=SIGNER_VALIDITY,
        tsa_validity=dt.timedelta(days=3650),
        # Long-lived CRLs stand in for the revocation data an archive refreshes before each new
        # document timestamp, so that validation years ahead can be tested.
        crl_validity=dt.timedelta(days=3650),
    )
    server.configure(pki.tsa_pkcs12, PASSWORD, pki.crls)
    server.start()
    try:
        _wait_until_ready(f"{server.endpoints.crl_base_url}/root.crl")
        yield SigningPki(
            pki=pki,
            password=PASSWORD,
            server=server,
            timestamp_url=server.endpoints.timestamp_url,
            crl_base_url=server.endpoints.crl_base_url,
            departments=DEPARTMENTS,
        )
    finally:
        server.stop()


@pytest.fixture(scope="session")
def other_pki() -> DevPki:
    """A second, unrelated PKI: its certificates are not trusted by ``test_pki``'s roots."""
    return generate_dev_pki([Organisation("冒名审查机构", "冒名审查机构", "施工图审查", "impostor")], password=PASSWORD)
