"""A development timestamp authority (时间戳服务) on loopback, for tests and demonstrations.

RFC 3161 over HTTP: ``POST /tsa`` with an ``application/timestamp-query`` body answers an
``application/timestamp-reply``. The same server publishes the development PKI's CRLs under
``GET /crl/<name>`` so that signatures can embed revocation data. It binds loopback only and is
no production service: a real deployment points at an accredited TSA.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import ClassVar

from asn1crypto import tsp
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper

from signing.pki import certificate_store, load_pkcs12, to_asn1_certificate, to_asn1_key

TSA_PATH = "/tsa"
CRL_PREFIX = "/crl/"
_MAX_QUERY = 64 * 1024


@dataclass(frozen=True)
class TsaEndpoints:
    """Where a running server answers."""

    timestamp_url: str
    """RFC 3161 endpoint."""
    crl_base_url: str
    """Prefix of the CRL files."""


class _Handler(BaseHTTPRequestHandler):
    server: _TsaHttpServer
    protocol_version: ClassVar[str] = "HTTP/1.1"  # type: ignore[misc]

    def log_message(self, format: str, *args: object) -> None:
        return

    def _reply(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if self.path != TSA_PATH or not 0 < length <= _MAX_QUERY:
            self._reply(404 if self.path != TSA_PATH else 400, b"", "text/plain")
            return
        body = self.rfile.read(length)
        try:
            request = tsp.TimeStampReq.load(body)
            response = self.server.stamper.request_tsa_response(request)
        except ValueError:
            self._reply(400, b"malformed timestamp query", "text/plain")
            return
        self.server.issued += 1
        self._reply(200, response.dump(), "application/timestamp-reply")

    def do_GET(self) -> None:
        crl = self.server.crls.get(self.path.removeprefix(CRL_PREFIX)) if self.path.startswith(CRL_PREFIX) else None
        if crl is None:
            self._reply(404, b"", "text/plain")
            return
        self._reply(200, crl, "application/pkix-crl")


class _TsaHttpServer(ThreadingHTTPServer):
    daemon_threads = True
    stamper: DummyTimeStamper
    crls: dict[str, bytes]
    issued: int


class TimestampServer:
    """A loopback RFC 3161 timestamp authority and CRL publisher; use as a context manager.

    The server binds before the PKI exists (``port=0`` picks a free port) so that certificates
    can name its CRL URLs; :meth:`configure` then installs the TSA identity and the CRLs.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = _TsaHttpServer((host, port), _Handler)
        self._server.crls = {}
        self._server.issued = 0
        self._thread: threading.Thread | None = None
        bound_host, bound_port = self._server.server_address[:2]
        base = f"http://{bound_host!s}:{bound_port}"
        self.endpoints = TsaEndpoints(timestamp_url=base + TSA_PATH, crl_base_url=base + CRL_PREFIX.rstrip("/"))

    def configure(self, tsa_pkcs12: bytes, password: bytes, crls: Mapping[str, bytes] | None = None) -> None:
        """Install the TSA certificate and key (RSA) and the CRLs to publish."""
        identity = load_pkcs12(tsa_pkcs12, password)
        self._server.stamper = DummyTimeStamper(
            tsa_cert=to_asn1_certificate(identity.certificate),
            tsa_key=to_asn1_key(identity.key),
            certs_to_embed=certificate_store(identity.chain),
        )
        self._server.crls = dict(crls or {})

    def publish_crl(self, name: str, der: bytes) -> None:
        """Replace one published CRL (e.g. after revoking a certificate)."""
        self._server.crls[name] = der

    @property
    def issued(self) -> int:
        """Timestamps issued so far."""
        return self._server.issued

    def start(self) -> None:
        if not hasattr(self._server, "stamper"):
            raise RuntimeError("configure() the timestamp server before starting it")
        self._thread = threading.Thread(target=self._server.serve_forever, name="liantu-tsa", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=10)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> TimestampServer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
