"""A small SMTP server on loopback for tests: the mail provider is outside the platform, so it is faked.

It speaks enough of RFC 5321 for :mod:`smtplib`: EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT. Recipients in
``bounce`` are refused with 550; while ``busy`` is set every connection is greeted with 421.
"""

from __future__ import annotations

import email
import email.policy
import socketserver
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage

import pytest


@dataclass
class SmtpServer:
    host: str = "127.0.0.1"
    port: int = 0
    received: list[EmailMessage] = field(default_factory=list)
    bounce: set[str] = field(default_factory=set)
    busy: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def reply(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self) -> None:
        state = self.server.state
        if state.busy:
            self.reply("421 4.3.2 service not available, try later")
            return
        self.reply("220 fake-smtp ready")
        recipients: list[str] = []
        while line := self.rfile.readline(65536):
            command = line.decode("utf-8", "replace").strip()
            verb = command[:4].upper()
            if verb in ("EHLO", "HELO"):
                self.reply("250 fake-smtp")
            elif verb == "MAIL":
                recipients = []
                self.reply("250 2.1.0 ok")
            elif verb == "RCPT":
                address = command.partition(":")[2].strip().strip("<>").split(">")[0]
                if address in state.bounce:
                    self.reply("550 5.1.1 no such mailbox")
                else:
                    recipients.append(address)
                    self.reply("250 2.1.5 ok")
            elif verb == "DATA":
                self.reply("354 end with <CRLF>.<CRLF>")
                data = bytearray()
                while (chunk := self.rfile.readline(1 << 20)) not in (b".\r\n", b".\n", b""):
                    data += chunk[1:] if chunk.startswith(b"..") else chunk
                message = email.message_from_bytes(bytes(data), policy=email.policy.default)
                with state.lock:
                    state.received.append(message)  # type: ignore[arg-type]
                self.reply("250 2.0.0 queued")
            elif verb in ("RSET", "NOOP"):
                self.reply("250 ok")
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("502 5.5.2 not implemented")


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, state: SmtpServer) -> None:
        super().__init__((state.host, 0), _Handler)
        self.state = state


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A running fake SMTP server; ``.received`` holds the parsed messages."""
    state = SmtpServer()
    server = _Server(state)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
