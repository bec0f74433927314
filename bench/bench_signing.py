"""Sealing a large result: three departments sign a 200-page A1 vector set, then it is verified.

Measures each signature (certify; approve with a loopback TSA; lock with validation data and a
document timestamp) and the verification, best of N runs (the functions are pure, so each run
signs the same input), with the process's peak RSS. References: pyHanko's ``sign_pdf`` in process
on the same fields without a stamp appearance, and ``pyhanko sign addsig`` (pyhanko-cli, a new
process per signature, its peak RSS measured with GNU time).

    .venv/bin/python bench/bench_signing.py [--pages 200] [--paths 3000] [--repeat 3] [--result]

With ``--result`` the document is the platform's own result (:func:`signing.compose.compose_and_prepare`:
certificate, manifest, every sheet stamped with its QR code, the departments' fields on the certificate)
composed from ``--pages`` A1 sheets, so that one run covers compose, three seals and validation.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import resource
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import signers
from pyhanko.sign.fields import SigSeedSubFilter
from pyhanko.sign.timestamps.aiohttp_client import HTTPTimeStamper

from signing.pki import Organisation, generate_dev_pki, signer_from_pkcs12
from signing.seal import SealSpec, draw_round_seal
from signing.sign import SignatureFieldSpec, SignatureRole, prepare_result, sign
from signing.tsa import TimestampServer
from signing.verify import verify

A1_POINTS = (2383.94, 1683.78)
PASSWORD = b"bench"
DEPARTMENTS = (
    Organisation("某市消防救援支队", "某市消防救援支队", "消防审查", "fire"),
    Organisation("某市人民防空办公室", "某市人民防空办公室", "人防审查", "civil_defence"),
    Organisation("某市住房和城乡建设局", "某市住房和城乡建设局", "施工图审查", "construction"),
)
ROLES = (SignatureRole.FIRST_CERTIFY, SignatureRole.APPROVE, SignatureRole.LAST_LOCK)

T = TypeVar("T")


def compose(pages: int, paths: int, seed: int = 7) -> bytes:
    """``pages`` A1 landscape sheets, each with ``paths`` stroked lines, rectangles and polylines."""
    import pymupdf

    rng = random.Random(seed)
    width, height = A1_POINTS
    doc = pymupdf.open()
    for number in range(pages):
        page = doc.new_page(width=width, height=height)
        page.insert_text((60, 60), f"Sheet {number + 1:03d}", fontsize=24)
        ops = ["0.25 w 0 0 0 RG"]
        for i in range(paths):
            x, y = rng.uniform(40, width - 40), rng.uniform(40, height - 40)
            if i % 3 == 0:
                ops.append(f"{x:.2f} {y:.2f} m {x + rng.uniform(-90, 90):.2f} {y + rng.uniform(-90, 90):.2f} l S")
            elif i % 3 == 1:
                ops.append(f"{x:.2f} {y:.2f} {rng.uniform(2, 50):.2f} {rng.uniform(2, 50):.2f} re S")
            else:
                pts = " ".join(f"{x + rng.uniform(-40, 40):.2f} {y + rng.uniform(-40, 40):.2f} l" for _ in range(4))
                ops.append(f"{x:.2f} {y:.2f} m {pts} S")
        xref = page.get_contents()[0]
        doc.update_stream(xref, doc.xref_stream(xref) + b"\n" + "\n".join(ops).encode())
    data = doc.tobytes(deflate=True, garbage=1)
    doc.close()
    return data


def compose_platform_result(pages: int, paths: int) -> tuple[bytes, list[str]]:
    """The result as the platform composes it, from ``pages`` A1 sheets; the field names in signing order."""
    import hashlib
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_result import data, sheet_pdf

    from signing.compose import ApprovedSheet, compose_and_prepare, seal_slots

    sheets = []
    for number in range(pages):
        sheet = sheet_pdf(number, paths)
        digest = hashlib.sha256(sheet).hexdigest()
        original = hashlib.sha256(b"original %d" % number).hexdigest()
        sheets.append(ApprovedSheet(f"A-{number:04d}", f"第 {number + 1} 张图纸", 1, original, digest, sheet))
    slots = seal_slots([(d.slug, d.name) for d in DEPARTMENTS])
    return compose_and_prepare(data(), sheets, slots), [slot.field_name for slot in slots]


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def best_of(label: str, repeat: int, func: Callable[[], T]) -> tuple[T, float]:
    """Run ``func`` ``repeat`` times (the functions are pure); best wall time, best CPU time of this
    process (the loopback TSA runs in it too; a child process's CPU is not counted) and peak RSS."""
    times = []
    cpu_times = []
    result = None
    for _ in range(repeat):
        start, cpu_start = time.perf_counter(), time.process_time()
        result = func()
        times.append(time.perf_counter() - start)
        cpu_times.append(time.process_time() - cpu_start)
    best = min(times)
    print(
        f"  {label:<40} best {best:6.2f} s  (median {statistics.median(times):6.2f} s, CPU {min(cpu_times):5.2f} s)"
        f"   peak RSS {_rss_mib():5.0f} MiB   load {os.getloadavg()[0]:.1f}"
    )
    return result, best  # type: ignore[return-value]


def raw_pyhanko(pdf: bytes, field: str, signer: signers.Signer, *, certify: bool, timestamp_url: str | None) -> bytes:
    """The bare library: same field, same key, same TSA, no seal image or text stamp."""
    out = io.BytesIO()
    signers.sign_pdf(
        IncrementalPdfFileWriter(io.BytesIO(pdf)),
        signers.PdfSignatureMetadata(field_name=field, certify=certify, subfilter=SigSeedSubFilter.PADES),
        signer=signer,
        timestamper=HTTPTimeStamper(timestamp_url) if timestamp_url else None,
        existing_fields_only=True,
        output=out,
    )
    return out.getvalue()


PYHANKO_CLI = Path(__file__).resolve().parents[1] / ".venv" / "bin" / "pyhanko"


CLI_PEAK_KIB: list[int] = []


def cli_addsig(pdf: Path, out: Path, p12: Path, passfile: Path, *, field: str, extra: list[str]) -> None:
    """One ``pyhanko sign addsig`` process; its own peak RSS comes from GNU time (a fork of this
    process would report the parent's size)."""
    exe = str(PYHANKO_CLI) if PYHANKO_CLI.exists() else "pyhanko"
    cmd = [exe, "sign", "addsig", "--field", field, "--existing-only", *extra, "pkcs12", "--passfile", str(passfile)]
    report = out.with_suffix(".rss")
    prefix = ["/usr/bin/time", "-f", "%M", "-o", str(report)] if Path("/usr/bin/time").exists() else []
    subprocess.run([*prefix, *cmd, str(pdf), str(out), str(p12)], check=True, capture_output=True)
    if report.exists():
        CLI_PEAK_KIB.append(int(report.read_text().split()[-1]))


def main() -> None:  # noqa: PLR0915 - one measured run, step by step
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--paths", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--result", action="store_true", help="compose the platform's result and sign its fields")
    args = parser.parse_args()

    print(f"compose: {args.pages} A1 pages x {args.paths} vector paths; load average {os.getloadavg()[0]:.1f}")
    start, cpu_start = time.perf_counter(), time.process_time()
    composed_result = compose_platform_result(args.pages, args.paths) if args.result else None
    pdf = composed_result[0] if composed_result else compose(args.pages, args.paths)
    label = "signing.compose.compose_and_prepare" if composed_result else "PyMuPDF"
    print(
        f"  compose ({label}) {time.perf_counter() - start:.2f} s (CPU {time.process_time() - cpu_start:.2f} s), "
        f"file size {len(pdf) / 2**20:.1f} MiB, load {os.getloadavg()[0]:.1f}"
    )

    server = TimestampServer()
    pki = generate_dev_pki(DEPARTMENTS, password=PASSWORD, crl_base_url=server.endpoints.crl_base_url)
    server.configure(pki.tsa_pkcs12, PASSWORD, pki.crls)
    seals = {d.slug: draw_round_seal(SealSpec(d.name, f"{d.unit}专用章")) for d in DEPARTMENTS}
    specs = [
        SignatureFieldSpec(d.slug, -1, (1700 + 210 * i, 60, 1880 + 210 * i, 260), d.unit)
        for i, d in enumerate(DEPARTMENTS)
    ]
    keys = {d.slug: signer_from_pkcs12(pki.signers[d.slug], PASSWORD) for d in DEPARTMENTS}
    url = server.endpoints.timestamp_url
    with server:
        print(f"liantu signing.sign, in process, seal image + CJK text stamp, TSA on loopback (best of {args.repeat})")
        if composed_result:
            prepared = pdf  # the fields were created with the result, on its certificate page
        else:
            prepared, _ = best_of("prepare fields", 1, lambda: prepare_result(pdf, specs))
        revisions = [prepared]
        ours = []
        for department, role in zip(DEPARTMENTS, ROLES, strict=True):
            source = revisions[-1]
            signed, elapsed = best_of(
                f"sign {role.name.lower()} ({department.slug})",
                args.repeat,
                lambda source=source, department=department, role=role: sign(
                    source,
                    field_name=department.slug,
                    signer=keys[department.slug],
                    seal_png=seals[department.slug],
                    role=role,
                    timestamper_url=url,
                    trust_roots=[pki.root_certificate],
                ),
            )
            revisions.append(signed)
            ours.append(elapsed)
        final = revisions[-1]
        print(f"  sealed file {len(final) / 2**20:.1f} MiB (+{(len(final) - len(pdf)) / 1024:.0f} KiB, 4 revisions)")
        verdict, verify_time = best_of(
            "verify (3 signatures + doc timestamp)", args.repeat, lambda: verify(final, [pki.root_certificate])
        )
        assert verdict.valid, verdict.all_reasons()

        print("reference 1: pyHanko in process, no stamp appearance")
        _, raw_certify = best_of(
            "sign_pdf certify (fire)",
            args.repeat,
            lambda: raw_pyhanko(prepared, "fire", keys["fire"], certify=True, timestamp_url=url),
        )
        _, raw_approve = best_of(
            "sign_pdf approve + TSA (civil_defence)",
            args.repeat,
            lambda: raw_pyhanko(revisions[1], "civil_defence", keys["civil_defence"], certify=False, timestamp_url=url),
        )

        print("reference 2: pyhanko sign addsig (pyhanko-cli), a new process each")
        with tempfile.TemporaryDirectory() as folder:
            tmp = Path(folder)
            (tmp / "prepared.pdf").write_bytes(prepared)
            (tmp / "first.pdf").write_bytes(revisions[1])
            (tmp / "pass").write_bytes(PASSWORD)
            for department in DEPARTMENTS:
                (tmp / f"{department.slug}.p12").write_bytes(pki.signers[department.slug])
            _, cli_certify = best_of(
                "addsig --certify --use-pades (fire)",
                args.repeat,
                lambda: cli_addsig(
                    tmp / "prepared.pdf",
                    tmp / "c1.pdf",
                    tmp / "fire.p12",
                    tmp / "pass",
                    field="fire",
                    extra=["--certify", "--use-pades"],
                ),
            )
            _, cli_approve = best_of(
                "addsig --timestamp-url (civil_defence)",
                args.repeat,
                lambda: cli_addsig(
                    tmp / "first.pdf",
                    tmp / "c2.pdf",
                    tmp / "civil_defence.p12",
                    tmp / "pass",
                    field="civil_defence",
                    extra=["--use-pades", "--timestamp-url", url],
                ),
            )
            _, startup = best_of(
                "pyhanko --version (start-up only)",
                args.repeat,
                lambda: subprocess.run([str(PYHANKO_CLI), "--version"], check=False, capture_output=True),
            )

    if CLI_PEAK_KIB:
        print(f"  pyhanko-cli peak RSS {max(CLI_PEAK_KIB) / 1024:.0f} MiB (its own process)")
    print("summary")
    print(
        f"  liantu per signature: certify {ours[0]:.2f} s, approve+TSA {ours[1]:.2f} s, lock+LTA {ours[2]:.2f} s; "
        f"verify {verify_time:.2f} s; process peak RSS {_rss_mib():.0f} MiB; load average now {os.getloadavg()[0]:.1f}"
    )
    print(
        f"  ratio liantu / pyHanko in process: certify {ours[0] / raw_certify:.2f}, approve {ours[1] / raw_approve:.2f}"
    )
    print(
        f"  ratio liantu / pyhanko-cli: certify {ours[0] / cli_certify:.2f}, approve {ours[1] / cli_approve:.2f} "
        f"(the cli pays {startup:.2f} s process start-up each time)"
    )


if __name__ == "__main__":
    main()
