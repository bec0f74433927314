"""Sealing the joint review result (联审结果电子签章) with pyHanko.

The order is fixed (DESIGN decision 7):

1. :func:`prepare_result` creates every department's signature field in one revision, before any
   signature; the last field carries a lock of all fields.
2. The first department certifies (:attr:`SignatureRole.FIRST_CERTIFY`, DocMDP: form filling).
3. The other departments approve with an RFC 3161 timestamp (:attr:`SignatureRole.APPROVE`).
4. The last department (:attr:`SignatureRole.LAST_LOCK`) signs the locking field, then validation
   data (certificates, CRLs) and a document timestamp are added: PAdES B-LTA.

A document with a single signer (the construction permit) is sealed once with
:attr:`SignatureRole.SOLE_CERTIFY`: a certification that allows no change, with its validation data
and a document timestamp (PAdES B-LTA).

Every step appends an incremental update. The functions take and return bytes; on any error the
caller still holds its unchanged input and nothing partial is returned.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import enum
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from asn1crypto import x509 as asn1_x509
from PIL import Image
from pyhanko.pdf_utils import layout
from pyhanko.pdf_utils.images import PdfImage
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.text import TextBoxStyle
from pyhanko.sign import fields, signers
from pyhanko.sign.fields import FieldMDPAction, FieldMDPSpec, MDPPerm, SigFieldSpec, SigSeedSubFilter
from pyhanko.sign.general import SigningError as PyHankoSigningError
from pyhanko.sign.signers.pdf_signer import DSSContentSettings, SigDSSPlacementPreference, TimestampDSSContentSettings
from pyhanko.sign.timestamps.aiohttp_client import HTTPTimeStamper
from pyhanko.sign.timestamps.common_utils import TimestampRequestError
from pyhanko.sign.validation.dss import DocumentSecurityStore, collect_validation_info
from pyhanko.stamp import TextStampStyle
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.errors import PathError, ValidationError

from signing.errors import CertificateExpired, FieldProblem, TimestampUnavailable, UnsignablePdf
from signing.fonts import SANS, InMemoryFont, subset_collection_face, subset_font
from signing.seal import accept_seal_png

CHINA_STANDARD_TIME = dt.timezone(dt.timedelta(hours=8), "CST")
STAMP_TIME_FORMAT = "%Y年%m月%d日 %H:%M"
STAMP_TIME_CHARACTERS = "0123456789年月日时分秒:- "


class SignatureRole(enum.Enum):
    """A department's place in the signing order."""

    FIRST_CERTIFY = "first_certify"
    """Certification signature (认证签名); later form filling and signing allowed."""
    APPROVE = "approve"
    """Approval signature (审批签名) with an RFC 3161 timestamp."""
    LAST_LOCK = "last_lock"
    """Last approval: locks every field, adds validation data and a document timestamp."""
    SOLE_CERTIFY = "sole_certify"
    """The only signature of the document (施工许可证): certification allowing no change after it
    (DocMDP level 1), with an RFC 3161 timestamp, validation data and a document timestamp (B-LTA)."""

    @property
    def certifies(self) -> bool:
        """The signature is a certification signature (认证签名)."""
        return self in {SignatureRole.FIRST_CERTIFY, SignatureRole.SOLE_CERTIFY}

    @property
    def long_term(self) -> bool:
        """Validation data and a document timestamp follow the signature (PAdES B-LTA)."""
        return self in {SignatureRole.LAST_LOCK, SignatureRole.SOLE_CERTIFY}


@dataclass(frozen=True)
class SignatureFieldSpec:
    """A visible signature field for one department."""

    name: str
    """Field name, unique in the document (ASCII, e.g. ``fire``)."""
    page: int
    """Zero-based page index; negative counts from the end."""
    box: tuple[int, int, int, int]
    """Rectangle in PDF points: lower-left x, lower-left y, upper-right x, upper-right y."""
    label: str = ""
    """Department's name shown by PDF readers for the field (e.g. 消防审查)."""


@dataclass(frozen=True)
class StampText:
    """Text printed with the seal image."""

    signer_name: str | None = None
    """Name shown on the stamp; defaults to the certificate's common name."""
    reason: str = "施工图联合审查结论"
    """Reason recorded in the signature dictionary."""
    location: str = ""
    """Place recorded in the signature dictionary."""
    font_bytes: bytes | None = None
    """Single-face OpenType font for the stamp text; defaults to Noto Sans CJK SC."""
    time_zone: dt.tzinfo = CHINA_STANDARD_TIME
    """Zone of the time printed on the stamp (Beijing time by default, whatever the server's zone)."""


def prepare_result(pdf_bytes: bytes, field_specs: Sequence[SignatureFieldSpec]) -> bytes:
    """Add all signature fields, empty, in one incremental update; the last field locks all fields.

    The fields must exist before the certification signature: a field added after it would
    invalidate the certification.
    """
    if not field_specs:
        raise FieldProblem("至少需要一个签章域", "At least one signature field is required")
    names = [spec.name for spec in field_specs]
    if len(set(names)) != len(names):
        raise FieldProblem("签章域名称重复", "Signature field names must be unique")
    writer = _open_writer(pdf_bytes)
    existing = list(_field_states(writer.prev))
    if existing:
        raise FieldProblem(
            f"文档已有签章域：{', '.join(existing)}",
            f"The document already has signature fields: {', '.join(existing)}",
        )
    page_count = int(writer.root["/Pages"]["/Count"])
    try:
        for index, spec in enumerate(field_specs):
            page = spec.page if spec.page >= 0 else page_count + spec.page
            if not 0 <= page < page_count:
                raise FieldProblem(
                    f"签章域 {spec.name} 的页码 {spec.page} 超出文档页数 {page_count}",
                    f"Page {spec.page} of field {spec.name} is outside the document ({page_count} pages)",
                )
            last = index == len(field_specs) - 1
            fields.append_signature_field(
                writer,
                SigFieldSpec(
                    sig_field_name=spec.name,
                    on_page=page,
                    box=spec.box,
                    readable_field_name=spec.label or None,
                    field_mdp_spec=FieldMDPSpec(action=FieldMDPAction.ALL) if last else None,
                    empty_field_appearance=True,
                ),
            )
        out = io.BytesIO()
        writer.write(out)  # type: ignore[no-untyped-call]
    except PdfError as exc:
        raise UnsignablePdf(f"无法创建签章域：{exc}", f"Cannot create the signature fields: {exc}") from exc
    return out.getvalue()


def _open_writer(pdf_bytes: bytes) -> IncrementalPdfFileWriter:
    try:
        return IncrementalPdfFileWriter(io.BytesIO(pdf_bytes), strict=False)
    except (PdfError, ValueError, KeyError, TypeError) as exc:
        raise UnsignablePdf(f"PDF 文件无法读取：{exc}", f"The PDF cannot be read: {exc}") from exc


def _check_validity(cert: asn1_x509.Certificate, now: dt.datetime) -> None:
    validity = cert["tbs_certificate"]["validity"]
    not_before: dt.datetime = validity["not_before"].native
    not_after: dt.datetime = validity["not_after"].native
    if now < not_before:
        raise CertificateExpired(
            f"签章证书尚未生效（生效时间 {not_before:%Y-%m-%d %H:%M} UTC）",
            f"The signing certificate is not valid yet (valid from {not_before:%Y-%m-%d %H:%M} UTC)",
        )
    if now > not_after:
        raise CertificateExpired(
            f"签章证书已过期（失效时间 {not_after:%Y-%m-%d %H:%M} UTC）",
            f"The signing certificate has expired (valid until {not_after:%Y-%m-%d %H:%M} UTC)",
        )


def _field_states(reader: PdfFileReader) -> dict[str, bool]:
    """Every signature field's name and whether it is already signed."""
    return {name: value is not None for name, value, _ in fields.enumerate_sig_fields(reader)}


def _locking_fields(reader: PdfFileReader) -> set[str]:
    """Fields whose signature locks other fields (they carry a /Lock dictionary)."""
    return {name for name, _, ref in fields.enumerate_sig_fields(reader) if "/Lock" in ref.get_object()}


def _check_order(reader: PdfFileReader, field_name: str, role: SignatureRole) -> None:
    states = _field_states(reader)
    if field_name not in states:
        raise FieldProblem(f"签章域 {field_name} 不存在", f"There is no signature field {field_name}")
    if states[field_name]:
        raise FieldProblem(f"签章域 {field_name} 已签章", f"Signature field {field_name} is already signed")
    already_signed = any(states.values())
    others_open = [name for name, signed in states.items() if not signed and name != field_name]
    locking = field_name in _locking_fields(reader)
    if role.certifies and already_signed:
        raise FieldProblem("认证签名必须是第一个签名", "The certification signature must be the first signature")
    if role is SignatureRole.SOLE_CERTIFY and others_open:
        raise FieldProblem(
            f"唯一签名之后不允许任何修改，但文档还有其他签章域：{', '.join(others_open)}",
            f"A sole signature allows no change after it, but the document has other fields: {', '.join(others_open)}",
        )
    if not role.certifies and not already_signed:
        raise FieldProblem("第一个部门须先进行认证签名", "The first department must certify first")
    if role is SignatureRole.LAST_LOCK and (others_open or not locking):
        raise FieldProblem(
            "最终签章须在其他部门全部签章后签入锁定签章域",
            "The last signature goes into the locking field after every other department has signed",
        )
    if role is not SignatureRole.LAST_LOCK and locking and (others_open or already_signed):
        raise FieldProblem(
            f"签章域 {field_name} 会锁定全部签章域，只能由最后一个部门签章",
            f"Field {field_name} locks all fields; only the last department may sign it",
        )


def _stamp_style(seal_png: bytes, font_bytes: bytes) -> TextStampStyle:
    with Image.open(io.BytesIO(seal_png)) as image:
        seal = image.convert("RGBA")
    return TextStampStyle(
        # pyHanko always fills %(ts)s with the signing time in the server's zone; the stamp shows
        # the time in the zone asked for (Beijing time by default) instead.
        stamp_text="%(signer)s\n%(local_time)s",
        timestamp_format=STAMP_TIME_FORMAT,
        text_box_style=TextBoxStyle(font=InMemoryFont(font_bytes, font_size=8), font_size=8, leading=10),
        inner_content_layout=layout.SimpleBoxLayoutRule(
            x_align=layout.AxisAlignment.ALIGN_MID,
            y_align=layout.AxisAlignment.ALIGN_MIN,
            margins=layout.Margins(2, 2, 2, 2),
        ),
        background=PdfImage(seal),
        background_layout=layout.SimpleBoxLayoutRule(
            x_align=layout.AxisAlignment.ALIGN_MID,
            y_align=layout.AxisAlignment.ALIGN_MAX,
            margins=layout.Margins(14, 14, 2, 24),
        ),
        background_opacity=1.0,
        border_width=0,
    )


def _add_earlier_validation_data(writer: IncrementalPdfFileWriter, context: ValidationContext) -> None:
    """Put chains and revocation data of the earlier signatures into the DSS of the revision being signed.

    pyHanko's B-LTA step covers only the signature it makes; the departments that signed before
    need their validation data in the document too, so that the result can be verified offline.
    """

    async def collect() -> list[Any]:
        paths: list[Any] = []
        try:
            for embedded in writer.prev.embedded_signatures:
                paths.extend(await collect_validation_info(embedded, context))
        finally:
            # The HTTP session that fetched the CRLs belongs to this event loop: close it here.
            await context.aclose()  # type: ignore[no-untyped-call]
        return paths

    try:
        paths = asyncio.run(collect())
    except (PathError, ValidationError, ValueError) as exc:
        raise UnsignablePdf(
            f"已有签名的证书链无法验证：{exc}",
            f"The certificate chain of an earlier signature does not validate: {exc}",
        ) from exc
    DocumentSecurityStore.supply_dss_in_writer(writer, None, paths=paths, validation_context=context)


def sign(
    pdf_bytes: bytes,
    *,
    field_name: str,
    signer: signers.Signer,
    seal_png: bytes,
    role: SignatureRole,
    timestamper_url: str | None,
    trust_roots: Sequence[bytes] = (),
    stamp: StampText = StampText(),
    fetch_revocation: bool = True,
    timeout: float = 10.0,
) -> bytes:
    """Seal one empty field by incremental update and return the new document.

    ``trust_roots`` (DER) are needed for :attr:`SignatureRole.LAST_LOCK` and
    :attr:`SignatureRole.SOLE_CERTIFY`, which embed validation data; with ``fetch_revocation`` the
    CRLs named in the certificates are downloaded and embedded.
    Raises a :class:`signing.errors.SigningProblem`; the input is never modified.
    """
    accept_seal_png(seal_png)
    cert = signer.signing_cert
    if cert is None:
        raise UnsignablePdf("签章证书不可用", "The signing certificate is not available")
    _check_validity(cert, dt.datetime.now(dt.UTC))
    writer = _open_writer(pdf_bytes)
    _check_order(writer.prev, field_name, role)
    if role is not SignatureRole.FIRST_CERTIFY and timestamper_url is None:
        raise TimestampUnavailable(
            "审批签名和长期验证签名需要时间戳服务", "Approval and long-term signatures need a timestamp authority"
        )
    last = role.long_term
    if last and not trust_roots:
        raise FieldProblem(
            "长期验证签名需要信任根证书", "A long-term signature needs the trust roots for its validation data"
        )

    context = None
    if last:
        context = ValidationContext(
            trust_roots=[asn1_x509.Certificate.load(root) for root in trust_roots],
            allow_fetching=fetch_revocation,
            revocation_mode="soft-fail",
        )
    metadata = signers.PdfSignatureMetadata(
        field_name=field_name,
        reason=stamp.reason,
        location=stamp.location or None,
        name=stamp.signer_name,
        certify=role.certifies,
        docmdp_permissions=MDPPerm.NO_CHANGES if role is SignatureRole.SOLE_CERTIFY else MDPPerm.FILL_FORMS,
        subfilter=SigSeedSubFilter.PADES,
        md_algorithm="sha256",
        embed_validation_info=last,
        use_pades_lta=last,
        validation_context=context,
        signer_key_usage={"non_repudiation"},
        # Validation data goes into the document timestamp's own revision, so that the timestamp
        # covers the whole file and nothing follows it.
        dss_settings=DSSContentSettings(
            include_vri=False,
            placement=SigDSSPlacementPreference.TOGETHER_WITH_NEXT_TS,
            next_ts_settings=TimestampDSSContentSettings(include_vri=False, update_before_ts=True),
        ),
    )
    if context is not None:
        _add_earlier_validation_data(writer, context)
    timestamper = HTTPTimeStamper(timestamper_url, timeout=timeout) if timestamper_url else None
    signer_name = stamp.signer_name or cert.subject.native.get("common_name", "")
    characters = signer_name + STAMP_TIME_CHARACTERS
    font = subset_font(stamp.font_bytes, characters) if stamp.font_bytes else subset_collection_face(SANS, characters)
    pdf_signer = signers.PdfSigner(
        metadata,
        signer=signer,
        timestamper=timestamper,
        stamp_style=_stamp_style(seal_png, font),
    )
    out = io.BytesIO()
    try:
        pdf_signer.sign_pdf(
            writer,
            existing_fields_only=True,
            output=out,
            appearance_text_params={
                "signer": signer_name,
                "local_time": dt.datetime.now(stamp.time_zone).strftime(STAMP_TIME_FORMAT),
            },
        )
    except TimestampRequestError as exc:
        raise TimestampUnavailable(
            f"时间戳服务不可用：{timestamper_url}", f"The timestamp authority is unavailable: {timestamper_url}"
        ) from exc
    except (TimeoutError, OSError) as exc:
        raise TimestampUnavailable(
            f"时间戳服务或证书吊销信息无法访问：{exc}", f"Timestamp or revocation service unreachable: {exc}"
        ) from exc
    except (PyHankoSigningError, PdfError, ValueError) as exc:
        raise UnsignablePdf(f"签章失败：{exc}", f"Signing failed: {exc}") from exc
    return out.getvalue()


def renew_archive_timestamp(
    pdf_bytes: bytes,
    *,
    timestamper_url: str,
    trust_roots: Sequence[bytes],
    fetch_revocation: bool = True,
    timeout: float = 10.0,
) -> bytes:
    """Extend a sealed result's timestamp chain (归档时间戳续期): fresh validation data for the last
    document timestamp, then a new document timestamp over everything, by incremental update.

    Run it for archived results before the last timestamp's TSA certificate expires, so that the
    seals stay verifiable after every certificate involved has expired.
    """
    try:
        reader = PdfFileReader(io.BytesIO(pdf_bytes))
        has_timestamp = any(sig.sig_object_type == "/DocTimeStamp" for sig in reader.embedded_signatures)
    except (PdfError, ValueError, KeyError, TypeError) as exc:
        raise UnsignablePdf(f"PDF 文件无法读取：{exc}", f"The PDF cannot be read: {exc}") from exc
    if not has_timestamp:
        raise FieldProblem("文档没有文档时间戳，无法续期", "The document has no document timestamp to renew")
    context = ValidationContext(
        trust_roots=[asn1_x509.Certificate.load(root) for root in trust_roots],
        allow_fetching=fetch_revocation,
        revocation_mode="soft-fail",
    )
    out = io.BytesIO()
    try:
        signers.PdfTimeStamper(HTTPTimeStamper(timestamper_url, timeout=timeout)).update_archival_timestamp_chain(
            reader, context, in_place=False, output=out
        )
    except TimestampRequestError as exc:
        raise TimestampUnavailable(
            f"时间戳服务不可用：{timestamper_url}", f"The timestamp authority is unavailable: {timestamper_url}"
        ) from exc
    except (TimeoutError, OSError) as exc:
        raise TimestampUnavailable(
            f"时间戳服务或证书吊销信息无法访问：{exc}", f"Timestamp or revocation service unreachable: {exc}"
        ) from exc
    except (PyHankoSigningError, PdfError, ValueError) as exc:
        raise UnsignablePdf(f"时间戳续期失败：{exc}", f"Renewing the archive timestamp failed: {exc}") from exc
    return out.getvalue()
