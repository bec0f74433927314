"""DWG originals become DXF through the ODA File Converter, when one is configured (DWG 转 DXF).

The converter is a program outside Liantu (``LIANTU_ODA_CONVERTER``). It works on folders, not files:
``ODAFileConverter <input folder> <output folder> <output version> <output type> <recurse> <audit> [filter]``.
Each conversion gets a fresh temporary folder holding only this DWG, so nothing else can be picked up.

The DXF is a derived artefact under ``derived/dwg/<DWG sha256>/<converter identity>-<output version>.dxf``;
the DWG original stays as uploaded. A conversion that fails, runs past its time limit or writes nothing
raises :class:`~review.errors.UnreadableDrawing` with a bilingual message, so the file is rejected like
any other file that cannot be reviewed.
"""

from __future__ import annotations

import hashlib
import io
import os
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from app.intake.keys import DERIVED_PREFIX
from review.errors import UnreadableDrawing
from review.filetypes import FileKind, sniff
from review.sheets.findings import Finding, Severity
from storage.blobstore import BlobStore

OUTPUT_VERSION = "ACAD2018"
"""DXF version asked of the converter; ezdxf reads it fully."""

_OUTPUT_LIMIT = 2000
"""Characters of the converter's own output kept in a log or message."""


@dataclass(frozen=True)
class DwgConverter:
    """How to run the configured converter."""

    executable: Path
    timeout_seconds: float

    @property
    def version(self) -> str:
        """Identity of the converter program: a new install gives new derived keys, never stale DXF."""
        stat = self.executable.stat()
        return _file_digest(str(self.executable.resolve()), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=8)
def _file_digest(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()[:16]


def dxf_key(dwg_sha256: str, converter_version: str) -> str:
    """The DXF converted from a DWG original by one converter version."""
    return f"{DERIVED_PREFIX}dwg/{dwg_sha256}/{converter_version}-{OUTPUT_VERSION}.dxf"


def is_dwg(data: bytes) -> bool:
    return sniff(data[:4096]).kind is FileKind.DWG


def _failed(zh: str, en: str) -> UnreadableDrawing:
    return UnreadableDrawing(
        f"DWG 转换失败：{zh}。请在 CAD 软件中另存为 DXF 或打印为 PDF 后上传 / "
        f"the DWG could not be converted: {en}. Save it as DXF or plot it to PDF, then upload"
    )


def convert(converter: DwgConverter, data: bytes) -> bytes:
    """Run the converter on one DWG in a temporary folder and return the DXF it wrote."""
    with tempfile.TemporaryDirectory(prefix="liantu-dwg-") as folder:
        source, target = Path(folder, "in"), Path(folder, "out")
        source.mkdir()
        target.mkdir()
        (source / "drawing.dwg").write_bytes(data)
        argv = [str(converter.executable), str(source), str(target), OUTPUT_VERSION, "DXF", "0", "1", "*.DWG"]
        # The Linux build is a Qt program: without a display it must be told to draw nowhere.
        env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
        # argv is the administrator's configured program and folders this function made, never user text.
        process = subprocess.Popen(  # noqa: S603
            argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, start_new_session=True, cwd=folder
        )
        try:
            output, _ = process.communicate(timeout=converter.timeout_seconds)
        except subprocess.TimeoutExpired:
            # Its own helpers too: the whole process group goes.
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            seconds = int(converter.timeout_seconds)
            raise _failed(f"超过 {seconds} 秒未完成", f"it took longer than {seconds} s") from None
        text = output.decode(errors="replace")[-_OUTPUT_LIMIT:].strip()
        if process.returncode != 0:
            raise _failed(f"转换程序退出码 {process.returncode}", f"the converter exited with {process.returncode}")
        written = sorted(p for p in target.rglob("*") if p.is_file() and p.suffix.lower() == ".dxf")
        if not written:
            # The converter's own words go to the English half only: they may hold the " / " separator.
            detail = f" ({text.replace(' / ', '/')})" if text else ""
            raise _failed("转换程序没有生成 DXF", f"the converter wrote no DXF{detail}")
        return written[0].read_bytes()


def converted_finding() -> Finding:
    return Finding(
        "DWG_CONVERTED",
        Severity.INFO,
        f"DWG 原件已转换为 DXF（{OUTPUT_VERSION}）后拆分；原件保持不变",
        f"the DWG original was converted to DXF ({OUTPUT_VERSION}) to be split; the original is kept unchanged",
    )


def not_configured() -> UnreadableDrawing:
    return UnreadableDrawing(
        "未配置 DWG 转换程序：请在 CAD 软件中另存为 DXF（R12–R2018）或打印为 PDF 后上传 / "
        "no DWG converter is configured: save the drawing as DXF (R12–R2018) or plot it to PDF, then upload"
    )


def splittable(
    store: BlobStore, sha256: str, data: bytes, converter: DwgConverter | None
) -> tuple[bytes, tuple[Finding, ...]]:
    """The bytes to split: ``data`` itself, or for a DWG the DXF converted from it (stored once, then reused)."""
    if not is_dwg(data):
        return data, ()
    if converter is None:
        raise not_configured()
    key = dxf_key(sha256, converter.version)
    if store.exists(key):
        with store.open(key) as stream:
            return stream.read(), (converted_finding(),)
    dxf = convert(converter, data)
    store.put_stream(key, io.BytesIO(dxf), content_type="image/vnd.dxf", expected_size=len(dxf))
    return dxf, (converted_finding(),)
