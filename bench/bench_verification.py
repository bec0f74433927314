"""Verifying a sealed result through the public page, against the bare verdict and pyHanko's CLI.

A result of ``--pages`` A1 sheets is sealed by three departments (certify; approve with a loopback
TSA; lock with validation data and a document timestamp). Then, best of ``--repeat`` runs:

- *verdict*: :func:`signing.verify.verify` in process (what ``liantu verify`` computes);
- *public page*: ``POST /verify`` through the whole web stack (session, CSRF, multipart upload,
  SHA-256, record lookup, verification row in SQLite, the HTML report), with Starlette's test client;
- *pyhanko CLI*: ``pyhanko sign validate --trust root.pem`` (pyhanko-cli, a new process per run).

    .venv/bin/python bench/bench_verification.py [--pages 200] [--paths 3000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from signing.pki import generate_dev_pki, signer_from_pkcs12
from signing.seal import SealSpec, draw_round_seal
from signing.sign import SignatureFieldSpec, prepare_result, sign
from signing.tsa import TimestampServer
from signing.verify import verify

HERE = Path(__file__).resolve().parent


def _bench_signing():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("bench_signing", HERE / "bench_signing.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def best(repeat: int, func):  # type: ignore[no-untyped-def]
    times = []
    value = None
    for _ in range(repeat):
        start = time.perf_counter()
        value = func()
        times.append(time.perf_counter() - start)
    return value, min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--paths", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    signing_bench = _bench_signing()

    server = TimestampServer()
    pki = generate_dev_pki(
        signing_bench.DEPARTMENTS, password=signing_bench.PASSWORD, crl_base_url=server.endpoints.crl_base_url
    )
    server.configure(pki.tsa_pkcs12, signing_bench.PASSWORD, pki.crls)
    server.start()
    try:
        pdf = signing_bench.compose(args.pages, args.paths)
        fields = [
            SignatureFieldSpec(org.slug, -1, (40 + 180 * i, 40, 190 + 180 * i, 190), org.unit)
            for i, org in enumerate(signing_bench.DEPARTMENTS)
        ]
        pdf = prepare_result(pdf, fields)
        for index, org in enumerate(signing_bench.DEPARTMENTS):
            pdf = sign(
                pdf,
                field_name=org.slug,
                signer=signer_from_pkcs12(pki.signers[org.slug], signing_bench.PASSWORD),
                seal_png=draw_round_seal(SealSpec(org.name, "施工图审查专用章", dpi=150)),
                role=signing_bench.ROLES[index],
                timestamper_url=None if index == 0 else server.endpoints.timestamp_url,
                trust_roots=[pki.root_certificate],
            )
    finally:
        server.stop()
    size_mib = len(pdf) / 2**20
    print(f"sealed result: {args.pages} A1 pages, {size_mib:.1f} MiB, 3 seals + document timestamp")

    verdict, bare = best(args.repeat, lambda: verify(pdf, [pki.root_certificate]))
    assert verdict.valid, verdict.all_reasons()

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        root_pem = root / "root.pem"
        root_pem.write_bytes(x509.load_der_x509_certificate(pki.root_certificate).public_bytes(Encoding.PEM))
        result = root / "result.pdf"
        result.write_bytes(pdf)
        page, web = _through_the_page(root, root_pem, pdf, args.repeat)
        assert 'data-valid="true"' in page, "the public page did not find the result valid"

        def cli() -> str:
            return subprocess.run(
                [
                    str(Path(sys.executable).with_name("pyhanko")),
                    "sign",
                    "validate",
                    "--trust",
                    str(root_pem),
                    "--no-revocation-check",
                    "--executive-summary",
                    str(result),
                ],
                capture_output=True,
                text=True,
                check=False,
            ).stdout

        summary, peer = best(args.repeat, cli)
    print(f"pyhanko CLI says: {summary.strip().splitlines()[-1] if summary.strip() else '(nothing)'}")
    print(f"{'verdict (signing.verify)':32} {bare:7.3f} s")
    print(f"{'public page POST /verify':32} {web:7.3f} s   {web / bare:5.2f}× the verdict")
    print(f"{'pyhanko sign validate (CLI)':32} {peer:7.3f} s   the page is {peer / web:5.2f}× faster")
    print(f"peak RSS of this process: {_rss_mib():.0f} MiB")


def _through_the_page(root: Path, root_pem: Path, pdf: bytes, repeat: int) -> tuple[str, float]:
    from app.platform import Platform
    from app.settings import load_settings
    from app.web import create_app
    from storage.db import make_engine
    from storage.migrate import upgrade

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from starlette.testclient import TestClient

    settings = load_settings(
        {
            "LIANTU_DATA_DIR": str(root / "data"),
            "LIANTU_SECRET_KEY": "bench-secret-key-0123456789-0123456789-abcdef",
            "LIANTU_BROKER_URL": "memory://",
            "LIANTU_TRUST_ROOTS": str(root_pem),
            "LIANTU_VERIFY_MAX_BYTES": str(len(pdf) + 1024),
            "LIANTU_VERIFY_ATTEMPTS": str(repeat + 5),
        }
    )
    (root / "data").mkdir()
    engine = make_engine(settings.effective_database_url)
    upgrade(engine)
    platform = Platform(settings, _engine=engine)
    with TestClient(create_app(platform)) as client:
        token = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/verify").text)
        assert token is not None

        def post() -> str:
            return client.post(
                "/verify", data={"csrf_token": token.group(1)}, files={"file": ("result.pdf", pdf, "application/pdf")}
            ).text

        page, seconds = best(repeat, post)
    platform.close()
    return page, seconds


if __name__ == "__main__":
    main()
