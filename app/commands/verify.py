"""``liantu verify``: the platform's verdict on a sealed PDF (签章验证), offline.

The verdict is :func:`signing.verify.verify`, the same the platform gives; trust roots come only from
``--trust`` files. With none given every signature is reported as untrusted, and the document as invalid.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from pathlib import Path
from typing import Any

import click
from asn1crypto import pem
from asn1crypto import x509 as asn1_x509

from signing.verify import Reason, SignatureReport, Verdict, verify

VALID, INVALID, UNREADABLE = 0, 1, 2
"""Exit status: the document is valid, invalid (reasons given), or could not be read at all."""

_UNREADABLE_CODES = frozenset({"unreadable"})


def load_trust_roots(path: Path) -> list[bytes]:
    """The DER certificates of a PEM (one or more) or DER file; click's usage error when it holds none."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise click.BadParameter(
            f"无法读取 {path}：{exc.strerror} / cannot read {path}: {exc.strerror}", param_hint="--trust"
        ) from exc
    try:
        if pem.detect(data):
            ders = [der for kind, _headers, der in pem.unarmor(data, multiple=True) if kind == "CERTIFICATE"]
        else:
            ders = [data]
        for der in ders:
            # Parse now: a broken root must be a usage error, not a silent "untrusted".
            asn1_x509.Certificate.load(der).subject.native  # noqa: B018
    except (ValueError, TypeError) as exc:
        raise click.BadParameter(
            f"{path} 不是 PEM 或 DER 格式的证书 / {path} is not a PEM or DER certificate", param_hint="--trust"
        ) from exc
    if not ders:
        raise click.BadParameter(f"{path} 中没有证书 / {path} holds no certificate", param_hint="--trust")
    return ders


def _subject(der: bytes) -> str:
    return str(asn1_x509.Certificate.load(der).subject.human_friendly)


def _time(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _reason_json(reason: Reason) -> dict[str, str]:
    return {"code": reason.code, "zh": reason.zh, "en": reason.en}


def _signature_json(report: SignatureReport) -> dict[str, Any]:
    return {
        "field": report.field,
        "is_timestamp": report.is_timestamp,
        "signer": report.signer_common_name,
        "organisation": report.signer_organisation,
        "signing_time": _time(report.signing_time),
        "timestamp_time": _time(report.timestamp_time),
        "intact": report.intact,
        "valid": report.valid,
        "trusted": report.trusted,
        "trusted_at": _time(report.trusted_at),
        "coverage": report.coverage.value,
        "modification": report.modification.name.lower() if report.modification is not None else None,
        "docmdp_ok": report.docmdp_ok,
        "ok": report.ok,
        "reasons": [_reason_json(r) for r in report.reasons],
    }


def status_of(verdict: Verdict) -> int:
    """The exit status of a verdict."""
    if verdict.valid:
        return VALID
    if any(reason.code in _UNREADABLE_CODES for reason in verdict.reasons):
        return UNREADABLE
    return INVALID


_STATUS_NAMES = {VALID: "valid", INVALID: "invalid", UNREADABLE: "unreadable"}


def verdict_json(path: str, verdict: Verdict, roots: list[bytes]) -> dict[str, Any]:
    """The verdict as one JSON-ready document with stable keys."""
    return {
        "file": path,
        "status": _STATUS_NAMES[status_of(verdict)],
        "valid": verdict.valid,
        "trust_roots": [_subject(der) for der in roots],
        "signatures": [_signature_json(report) for report in verdict.signatures],
        "unsigned_fields": list(verdict.unsigned_fields),
        "reasons": [_reason_json(r) for r in verdict.all_reasons()],
    }


def _yes(value: bool | None) -> str:
    return "-" if value is None else ("是 yes" if value else "否 no")


def verdict_text(path: str, verdict: Verdict, roots: list[bytes]) -> str:
    """The human report: one block per signature, then the document's verdict with every reason."""
    lines = [f"文件 / file: {path}"]
    if roots:
        lines += [f"信任根 / trust root: {_subject(der)}" for der in roots]
    else:
        lines.append(
            "未提供信任根（--trust），签章均无法判定为可信 / no trust roots given (--trust): nothing is trusted"
        )
    for number, report in enumerate(verdict.signatures, start=1):
        kind = "文档时间戳 / document timestamp" if report.is_timestamp else "签章 / signature"
        modification = report.modification.name.lower() if report.modification is not None else "-"
        trusted = _yes(report.trusted)
        if report.trusted_at is not None:
            trusted += f"（于 / at {report.trusted_at.isoformat()}）"
        lines += [
            f"[{number}] {kind}: {report.field}",
            f"    签署人 / signer:          {report.signer_common_name or '-'}",
            f"    单位 / organisation:      {report.signer_organisation or '-'}",
            f"    签署时间 / signing time:  {_time(report.signing_time) or '-'}",
            f"    时间戳 / timestamp:       {_time(report.timestamp_time) or '-'}",
            f"    完整 / intact:            {_yes(report.intact)}",
            f"    可信 / trusted:           {trusted}",
            f"    覆盖范围 / coverage:      {report.coverage.value}",
            f"    签后修改 / modification:  {modification}",
        ]
        lines += [f"    ✗ {r.code}: {r.zh} / {r.en}" for r in report.reasons]
    if verdict.unsigned_fields:
        lines.append(f"未签署的签章域 / unsigned fields: {', '.join(verdict.unsigned_fields)}")
    status = status_of(verdict)
    if status == VALID:
        lines.append("结论：有效 / verdict: VALID")
    else:
        label = "无法读取 / UNREADABLE" if status == UNREADABLE else "无效 / INVALID"
        lines.append(f"结论 / verdict: {label}")
        lines += [f"  ✗ {r.code}: {r.zh} / {r.en}" for r in verdict.reasons]
    return "\n".join(lines)


@click.command("verify")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="输出一个 JSON 文档 / print one JSON document")
@click.option(
    "--trust",
    "trust",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    metavar="CERT.pem",
    help="信任根证书（PEM 或 DER），可多次指定 / trust root certificate (PEM or DER), repeatable",
)
def verify_command(file: Path, as_json: bool, trust: tuple[Path, ...]) -> None:
    """验证 PDF 的电子签章（与平台结论一致）/ Verify the signatures of a sealed PDF, as the platform does.

    Exit status: 0 valid, 1 invalid (reasons printed), 2 unreadable or usage errors.
    """
    roots = [der for path in trust for der in load_trust_roots(path)]
    # pyHanko logs every failed path building with a traceback; the verdict already says why, once.
    for name in ("pyhanko", "pyhanko_certvalidator"):
        logging.getLogger(name).addHandler(logging.NullHandler())
    try:
        data = file.read_bytes()
    except OSError as exc:
        click.echo(f"错误：无法读取 {file}：{exc.strerror}\nerror: cannot read {file}: {exc.strerror}", err=True)
        sys.exit(UNREADABLE)
    verdict = verify(data, roots)
    if as_json:
        click.echo(json.dumps(verdict_json(str(file), verdict, roots), ensure_ascii=False, indent=2, sort_keys=True))
    else:
        click.echo(verdict_text(str(file), verdict, roots))
    sys.exit(status_of(verdict))


commands = [verify_command]
