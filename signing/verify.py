"""Verification of a sealed result (签章验证), with pyHanko's difference analysis as the authority.

Every signature and document timestamp is validated against the given trust roots, using the
certificates and CRLs embedded in the document (no network access). A document is valid only if
every signature is intact, trusted, covers a whole revision, is followed by nothing beyond form
filling, and the last signature or timestamp covers the whole file (validation data appended after
it is accepted when the difference analysis finds nothing else). A signature whose certificate
expired after signing stays trusted through a later document timestamp that is trusted now.
Anything that cannot be parsed is a rejection with a reason, never an exception.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation import validate_pdf_signature, validate_pdf_timestamp
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko.sign.validation.errors import NoDSSFoundError
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.status import ModificationInfo, SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext


class Coverage(enum.Enum):
    """How much of the file a signature covers."""

    ENTIRE_FILE = "entire_file"
    ENTIRE_REVISION = "entire_revision"
    UNCLEAR = "unclear"


class Modification(enum.IntEnum):
    """What changed after a signature, from harmless to forbidden."""

    NONE = 0
    LTA_UPDATES = 1
    FORM_FILLING = 2
    ANNOTATIONS = 3
    OTHER = 4


@dataclass(frozen=True)
class Reason:
    """Why a signature or the document is not valid."""

    code: str
    """Stable identifier, e.g. ``not_trusted``."""
    zh: str
    """Message in Chinese."""
    en: str
    """Message in English."""


@dataclass(frozen=True)
class SignatureReport:
    """The outcome for one signature or document timestamp."""

    field: str
    """Signature field name."""
    is_timestamp: bool
    """True for a document timestamp (文档时间戳)."""
    signer_common_name: str
    """CN of the signer's (or TSA's) certificate."""
    signer_organisation: str
    """O of that certificate."""
    signing_time: dt.datetime | None
    """Time claimed by the signer (not trustworthy by itself)."""
    timestamp_time: dt.datetime | None
    """Time from the RFC 3161 timestamp, if any."""
    intact: bool
    """The signed bytes are unchanged."""
    valid: bool
    """The cryptographic signature is correct."""
    trusted: bool
    """The certificate chains to a trust root and is not revoked."""
    coverage: Coverage
    """What the signature covers."""
    modification: Modification | None
    """The most serious change after the signature; None if it could not be judged."""
    docmdp_ok: bool | None
    """The changes respect the certification's permissions."""
    reasons: tuple[Reason, ...]
    """Every problem found; empty when the signature is fine."""
    trusted_at: dt.datetime | None = None
    """Set when the certificate was trusted not now but at the time of a later, trusted document
    timestamp (长期验证, PAdES B-LTA): the timestamp proves the signature existed while it was valid."""

    @property
    def ok(self) -> bool:
        return not self.reasons


@dataclass(frozen=True)
class Verdict:
    """The outcome for a whole document."""

    valid: bool
    """Every signature passes and the last one covers the whole file (or is followed by validation data only)."""
    signatures: tuple[SignatureReport, ...]
    """One report per signature and timestamp, in signing order."""
    reasons: tuple[Reason, ...]
    """Problems of the document as a whole (unreadable, unsigned, tail not covered)."""
    unsigned_fields: tuple[str, ...] = ()
    """Signature fields still empty (not every department has sealed yet)."""

    def all_reasons(self) -> tuple[Reason, ...]:
        return self.reasons + tuple(r for s in self.signatures for r in s.reasons)


_COVERAGE = {
    SignatureCoverageLevel.ENTIRE_FILE: Coverage.ENTIRE_FILE,
    SignatureCoverageLevel.ENTIRE_REVISION: Coverage.ENTIRE_REVISION,
}
_MODIFICATION = {level: Modification[level.name] for level in ModificationLevel}


def _reason(code: str, zh: str, en: str) -> Reason:
    return Reason(code, zh, en)


def _rejection(code: str, zh: str, en: str) -> Verdict:
    return Verdict(valid=False, signatures=(), reasons=(_reason(code, zh, en),))


def _context(
    reader: PdfFileReader, trust_roots: Sequence[bytes], moment: dt.datetime | None, *, archived: bool = False
) -> ValidationContext:
    kwargs: dict[str, Any] = {
        "trust_roots": [asn1_x509.Certificate.load(root) for root in trust_roots],
        "allow_fetching": False,
        "revocation_mode": "soft-fail",
        "moment": moment,
        # Revocation data embedded at signing time describes the certificate at the archive time.
        "retroactive_revinfo": archived,
    }
    try:
        return DocumentSecurityStore.read_dss(reader).as_validation_context(kwargs)
    except NoDSSFoundError:
        return ValidationContext(**kwargs)


def _name(cert: asn1_x509.Certificate | None, part: str) -> str:
    if cert is None:
        return ""
    value = cert.subject.native.get(part, "")
    return str(value[0] if isinstance(value, list) else value)


def _judge(status: ModificationInfo, *, intact: bool, valid: bool, trusted: bool) -> tuple[Reason, ...]:
    reasons = []
    if not intact:
        reasons.append(_reason("not_intact", "签名后文件内容被改动", "The signed bytes were changed"))
    elif not valid:
        reasons.append(_reason("bad_signature", "签名值无效", "The cryptographic signature is not valid"))
    if not trusted:
        reasons.append(
            _reason(
                "not_trusted",
                "签章证书不受信任、已过期或已吊销",
                "The signing certificate is not trusted, has expired or was revoked",
            )
        )
    if status.coverage not in _COVERAGE:
        reasons.append(
            _reason("coverage", "签名未覆盖完整的文档修订版本", "The signature does not cover a complete revision")
        )
    level = status.modification_level
    if level is None or _MODIFICATION[level] > Modification.FORM_FILLING:
        reasons.append(
            _reason(
                "modified",
                "签章后文档被修改（超出填写表单和签章的范围）",
                "The document was modified after signing beyond form filling and signing",
            )
        )
    if status.docmdp_ok is False:
        reasons.append(
            _reason("docmdp", "签章后的修改违反了认证签名的权限", "Changes after signing violate the certification")
        )
    return tuple(reasons)


def _report(embedded: EmbeddedPdfSignature, context: ValidationContext) -> SignatureReport:
    is_timestamp = embedded.sig_object_type == "/DocTimeStamp"
    name = embedded.field_name
    try:
        if is_timestamp:
            ts_status = validate_pdf_timestamp(embedded, validation_context=context)
            status: Any = ts_status
            signing_time: dt.datetime | None = None
            timestamp_time: dt.datetime | None = ts_status.timestamp
        else:
            sig_status = validate_pdf_signature(embedded, signer_validation_context=context)
            status = sig_status
            signing_time = sig_status.signer_reported_dt
            ts = sig_status.timestamp_validity
            timestamp_time = ts.timestamp if ts is not None else None
    except Exception as exc:  # noqa: BLE001 - hostile input may break validation anywhere; that is a rejection
        return SignatureReport(
            field=name,
            is_timestamp=is_timestamp,
            signer_common_name="",
            signer_organisation="",
            signing_time=None,
            timestamp_time=None,
            intact=False,
            valid=False,
            trusted=False,
            coverage=Coverage.UNCLEAR,
            modification=None,
            docmdp_ok=None,
            reasons=(
                _reason(
                    "unverifiable",
                    f"签名无法验证：{type(exc).__name__}",
                    f"The signature cannot be validated: {type(exc).__name__}: {exc}",
                ),
            ),
        )
    reasons = list(_judge(status, intact=status.intact, valid=status.valid, trusted=status.trusted))
    if not is_timestamp and status.timestamp_validity is not None and not status.timestamp_validity.trusted:
        reasons.append(_reason("timestamp_untrusted", "签名时间戳不受信任", "The signature timestamp is not trusted"))
    level = status.modification_level
    return SignatureReport(
        field=name,
        is_timestamp=is_timestamp,
        signer_common_name=_name(status.signing_cert, "common_name"),
        signer_organisation=_name(status.signing_cert, "organization_name"),
        signing_time=signing_time,
        timestamp_time=timestamp_time,
        intact=bool(status.intact),
        valid=bool(status.valid),
        trusted=bool(status.trusted),
        coverage=_COVERAGE.get(status.coverage, Coverage.UNCLEAR),
        modification=_MODIFICATION[level] if level is not None else None,
        docmdp_ok=status.docmdp_ok,
        reasons=tuple(reasons),
    )


def _trust_by_archive_timestamp(
    reader: PdfFileReader,
    embedded: Sequence[EmbeddedPdfSignature],
    reports: tuple[SignatureReport, ...],
    trust_roots: Sequence[bytes],
) -> tuple[SignatureReport, ...]:
    """Re-validate, at the time of the last trusted document timestamp, signatures whose
    certificates are no longer valid now (expired after signing): PAdES long-term validation."""
    archive = next((r for r in reversed(reports) if r.is_timestamp and r.ok and r.timestamp_time is not None), None)
    if archive is None or archive.timestamp_time is None:
        return reports
    archive_index = reports.index(archive)
    archived_context = _context(reader, trust_roots, archive.timestamp_time, archived=True)
    updated = list(reports)
    for index in range(archive_index):
        report = reports[index]
        if report.trusted or not (report.intact and report.valid):
            continue
        again = _report(embedded[index], archived_context)
        if again.trusted:
            updated[index] = dataclasses.replace(again, trusted_at=archive.timestamp_time)
    return tuple(updated)


def verify(pdf_bytes: bytes, trust_roots: Sequence[bytes], *, at: dt.datetime | None = None) -> Verdict:
    """Validate every signature of a PDF against the trust roots (DER certificates).

    ``at`` is the validation time (default: now). A signature whose certificate has expired by
    then still counts as trusted when a later document timestamp, trusted at ``at``, shows that
    it was made while the certificate was valid.
    """
    try:
        reader = PdfFileReader(io.BytesIO(pdf_bytes))
        embedded = list(reader.embedded_signatures)
        unsigned = tuple(name for name, value, _ in fields.enumerate_sig_fields(reader) if value is None)
        context = _context(reader, trust_roots, at)
    except Exception as exc:  # noqa: BLE001 - a file that does not parse is rejected, whatever the cause
        return _rejection(
            "unreadable",
            f"PDF 文件无法解析：{type(exc).__name__}",
            f"The PDF cannot be parsed: {type(exc).__name__}: {exc}",
        )
    if not embedded:
        return _rejection("unsigned", "文档没有签章", "The document has no signature")
    reports = _trust_by_archive_timestamp(
        reader, embedded, tuple(_report(sig, context) for sig in embedded), trust_roots
    )
    reasons = []
    last = reports[-1]
    # Validation data appended after the last timestamp (a DSS update, as many B-LTA writers do)
    # is checked by the difference analysis; any other uncovered tail rejects the document.
    tail_is_validation_data = last.coverage is Coverage.ENTIRE_REVISION and last.modification in {
        Modification.NONE,
        Modification.LTA_UPDATES,
    }
    if last.coverage is not Coverage.ENTIRE_FILE and not tail_is_validation_data:
        reasons.append(
            _reason(
                "tail_uncovered",
                "最后的签章或时间戳未覆盖整个文件",
                "The last signature or timestamp does not cover the whole file",
            )
        )
    valid = not reasons and all(report.ok for report in reports)
    return Verdict(valid=valid, signatures=reports, reasons=tuple(reasons), unsigned_fields=unsigned)
