"""Sealing a large result: three departments sign a 200-page A1 vector set, then it is verified.

Measures each signature (certify; approve with a loopback TSA; lock with validation data and a
document timestamp), the verification, the peak memory of each step (tracemalloc, Python heap)
and the process's peak RSS, and compares with ``pyhanko sign addsig`` (pyhanko-cli) on the same
prepared file as the reference.

    .venv/bin/python bench/bench_signing.py [--pages 200] [--paths 3000]
"""

from __future__ import annotations

import argparse
import random
import resource
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

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


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measured(label: str, func: Callable[[], T]) -> tuple[T, float, float]:
    """Run ``func`` once; wall time and the process's peak RSS (MiB) after it."""
    start = time.perf_counter()
    result = func()
    elapsed = time.perf_counter() - start
    peak = _rss_mib()
    print(f"  {label:<38} {elapsed:8.2f} s   peak RSS {peak:7.0f} MiB")
    return result, elapsed, peak


def timed(label: str, func: Callable[[], T]) -> tuple[T, float]:
    start = time.perf_counter()
    result = func()
    elapsed = time.perf_counter() - start
    print(f"  {label:<34} {elapsed:8.2f} s")
    return result, elapsed


PYHANKO_CLI = Path(__file__).resolve().parents[1] / ".venv" / "bin" / "pyhanko"


def cli_addsig(pdf: Path, out: Path, p12: Path, passfile: Path, *, field: str, extra: list[str]) -> float:
    exe = str(PYHANKO_CLI) if PYHANKO_CLI.exists() else "pyhanko"
    cmd = [exe, "sign", "addsig", "--field", field, "--existing-only", *extra, "pkcs12", "--passfile", str(passfile)]
    start = time.perf_counter()
    subprocess.run([*cmd, str(pdf), str(out), str(p12)], check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--paths", type=int, default=3000)
    args = parser.parse_args()

    print(f"compose: {args.pages} A1 pages x {args.paths} vector paths")
    pdf, _ = timed("compose (PyMuPDF)", lambda: compose(args.pages, args.paths))
    print(f"  file size {len(pdf) / 2**20:.1f} MiB")

    server = TimestampServer()
    pki = generate_dev_pki(DEPARTMENTS, password=PASSWORD, crl_base_url=server.endpoints.crl_base_url)
    server.configure(pki.tsa_pkcs12, PASSWORD, pki.crls)
    seals = {d.slug: draw_round_seal(SealSpec(d.name, f"{d.unit}专用章")) for d in DEPARTMENTS}
    specs = [
        SignatureFieldSpec(d.slug, -1, (1700 + 210 * i, 60, 1880 + 210 * i, 260), d.unit)
        for i, d in enumerate(DEPARTMENTS)
    ]
    with server:
        print("liantu (signing.sign, in process)")
        prepared, _ = timed("prepare fields", lambda: prepare_result(pdf, specs))
        current = prepared
        sign_times = []
        for department, role in zip(DEPARTMENTS, ROLES, strict=True):
            signer = signer_from_pkcs12(pki.signers[department.slug], PASSWORD)
            source = current

            def step(
                source: bytes = source, department: Organisation = department, role: SignatureRole = role, signer=signer
            ) -> bytes:
                return sign(
                    source,
                    field_name=department.slug,
                    signer=signer,
                    seal_png=seals[department.slug],
                    role=role,
                    timestamper_url=server.endpoints.timestamp_url,
                    trust_roots=[pki.root_certificate],
                )

            current, elapsed, _ = measured(f"sign {role.name.lower()} ({department.slug})", step)
            sign_times.append(elapsed)
        final = current
        print(f"  sealed file {len(final) / 2**20:.1f} MiB (+{(len(final) - len(pdf)) / 1024:.0f} KiB)")
        verdict, verify_time, _ = measured(
            "verify (3 signatures + doc timestamp)", lambda: verify(final, [pki.root_certificate])
        )
        assert verdict.valid, verdict.all_reasons()

        print("reference: pyhanko sign addsig (pyhanko-cli, new process each)")
        with tempfile.TemporaryDirectory() as folder:
            tmp = Path(folder)
            (tmp / "prepared.pdf").write_bytes(prepared)
            (tmp / "pass").write_bytes(PASSWORD)
            for department in DEPARTMENTS:
                (tmp / f"{department.slug}.p12").write_bytes(pki.signers[department.slug])
            cli_certify = cli_addsig(
                tmp / "prepared.pdf",
                tmp / "c1.pdf",
                tmp / "fire.p12",
                tmp / "pass",
                field="fire",
                extra=["--certify", "--use-pades"],
            )
            print(f"  {'addsig --certify (fire)':<34} {cli_certify:8.2f} s")
            cli_approve = cli_addsig(
                tmp / "c1.pdf",
                tmp / "c2.pdf",
                tmp / "civil_defence.p12",
                tmp / "pass",
                field="civil_defence",
                extra=["--use-pades", "--timestamp-url", server.endpoints.timestamp_url],
            )
            print(f"  {'addsig --timestamp-url (civil_def.)':<34} {cli_approve:8.2f} s")
            start = time.perf_counter()
            subprocess.run([str(PYHANKO_CLI), "--version"], check=False, capture_output=True)
            startup = time.perf_counter() - start
            print(f"  {'pyhanko --version (startup only)':<34} {startup:8.2f} s")

    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("summary")
    print(
        f"  per signature: certify {sign_times[0]:.2f} s, approve+TSA {sign_times[1]:.2f} s, "
        f"lock+LTA {sign_times[2]:.2f} s; verify {verify_time:.2f} s; process peak RSS {peak_rss:.0f} MiB"
    )
    print(
        f"  ratio liantu/pyhanko-cli: certify {sign_times[0] / cli_certify:.2f}, "
        f"approve {sign_times[1] / cli_approve:.2f} (cli includes ~{startup:.2f} s process start-up)"
    )


if __name__ == "__main__":
    main()
