"""Errors of result composition, sealing and validation."""

from __future__ import annotations


class SigningError(Exception):
    """Root of every signing error."""


class SigningProblem(SigningError):
    """A signing error with a message for the user in Chinese and in English."""

    def __init__(self, zh: str, en: str) -> None:
        super().__init__(f"{zh} / {en}")
        self.zh = zh
        self.en = en

    def message(self, locale: str) -> str:
        return self.en if locale.startswith("en") else self.zh


class WrongPassword(SigningProblem, PermissionError):
    """The PKCS#12 bundle cannot be opened with this password (or is no PKCS#12 at all)."""


class KeyMismatch(SigningProblem, ValueError):
    """The private key does not belong to the certificate."""


class CertificateExpired(SigningProblem, ValueError):
    """The signing certificate is not valid at the time of signing."""


class TokenUnavailable(SigningProblem, RuntimeError):
    """A PKCS#11 token, its key or its certificate cannot be reached."""


class InvalidSealImage(SigningProblem, ValueError):
    """An uploaded seal image is not an acceptable PNG."""


class TimestampUnavailable(SigningProblem, ConnectionError):
    """The timestamp authority did not answer with a valid timestamp."""


class FieldProblem(SigningProblem, ValueError):
    """A signature field is missing, already signed, or cannot be created."""


class UnsignablePdf(SigningProblem, ValueError):
    """The PDF cannot be read or cannot be signed."""
