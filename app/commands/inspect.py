"""Reading and rendering drawing files offline: ``liantu inspect`` and ``liantu render``.

Both run the intake's own reading steps (:func:`app.intake.steps_read.read_original`) on files on
disk, with no database and no object store, for batch users and benchmarks. Routing uses the tracks
enabled on a new installation unless ``--track`` names others.
"""

from __future__ import annotations

import json
import re
import sys
import time
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from app.intake.steps_read import ReadOriginal, SheetReading, read_original, rejection
from app.intake.steps_render import ViewOptions, choose_dpi
from app.tracks import STANDARD_TRACKS
from review.errors import ReviewError
from review.routing.errors import UnknownTrack
from review.routing.facts import SheetFacts
from review.routing.rules import RoutingDecision, check_tracks, route
from review.sheets.disciplines import discipline_by_code
from review.sheets.findings import Finding, Severity
from review.sheets.numbers import SheetNumber, report_numbering
from review.sheets.paper import MM_PER_POINT
from review.tiles.dzi import TileOptions, build_pyramid, render_thumbnail

DEFAULT_TRACKS = tuple(track.code for track in STANDARD_TRACKS if track.enabled)
"""Tracks a new installation routes to: what ``inspect`` assumes without ``--track``."""


@dataclass(frozen=True)
class InspectedFile:
    """One file given to ``inspect``: its sheets and routing, or why it was refused."""

    path: str
    read: ReadOriginal | None
    """None when the file was refused."""
    routes: tuple[RoutingDecision, ...] = ()
    """The routing decision of each sheet, in sheet order."""
    refusal: Finding | None = None
    """Why the file was refused (FILE_UNREADABLE), in Chinese and English."""


@dataclass
class _Column:
    """A column of a printed table: its Chinese and English headers and its cells."""

    zh: str
    en: str
    values: list[str] = field(default_factory=list)


def _finding_json(finding: Finding) -> dict[str, Any]:
    value: dict[str, Any] = {"code": finding.code, "severity": str(finding.severity)}
    value |= {"zh": finding.zh, "en": finding.en}
    if finding.page is not None:
        value["page"] = finding.page
    return value


def _error(zh: str, en: str) -> Finding:
    return Finding("FILE_UNREADABLE", Severity.ERROR, zh, en)


def read_file(path: Path, *, sheet_pdfs: bool = False) -> tuple[ReadOriginal | None, Finding | None]:
    """The file read like an uploaded original, or the finding that refuses it."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        return None, _error(f"无法读取文件：{exc.strerror or exc}", f"cannot read the file: {exc.strerror or exc}")
    try:
        return read_original(data, sheet_pdfs=sheet_pdfs), None
    except ReviewError as exc:
        # Unreadable, and also a layout that cannot be drawn: a batch goes on with the next file.
        return None, rejection(exc)


def _sheet_label(path: str, sheet: SheetReading) -> str:
    number = sheet.title_block.number
    if number is not None:
        return number.display
    return sheet.layout_name or f"{Path(path).name}#{sheet.index + 1}"


def inspect_files(paths: Sequence[Path], tracks: Sequence[str]) -> list[InspectedFile]:
    """Read and route every file; a refused file is kept with its reason and the others go on."""
    inspected = []
    for path in paths:
        read, refusal = read_file(path)
        if read is None:
            inspected.append(InspectedFile(str(path), None, refusal=refusal))
            continue
        routes = tuple(
            route(
                SheetFacts.of(_sheet_label(str(path), s), s.title_block.title or "", s.title_block.discipline), tracks
            )
            for s in read.sheets
        )
        inspected.append(InspectedFile(str(path), read, routes))
    return inspected


def _numbers(files: Iterable[InspectedFile]) -> list[SheetNumber]:
    return [
        sheet.title_block.number
        for item in files
        if item.read is not None
        for sheet in item.read.sheets
        if sheet.title_block.number is not None
    ]


def _paper_json(sheet: SheetReading) -> dict[str, Any]:
    return {
        "name": sheet.paper or None,
        "width_mm": round(sheet.width_pt * MM_PER_POINT, 1),
        "height_mm": round(sheet.height_pt * MM_PER_POINT, 1),
    }


def _measuring_json(sheet: SheetReading) -> dict[str, Any] | None:
    """What the viewer's measuring tool will use, as intake records it (None: the sheet has no true scale)."""
    if sheet.units_per_point is None:
        return None
    return {"units": sheet.units, "units_per_point": sheet.units_per_point}


def _sheet_json(sheet: SheetReading, decision: RoutingDecision) -> dict[str, Any]:
    block = sheet.title_block
    number = block.number
    return {
        "index": sheet.index,
        "layout": sheet.layout_name or None,
        "number": {"display": number.display, "key": number.key} if number else None,
        "number_text": block.number_text,
        "title": block.title,
        "discipline": block.discipline,
        "paper": _paper_json(sheet),
        "scale": sheet.scale or None,
        "measuring": _measuring_json(sheet),
        "confidence": block.confidence,
        "kind": decision.kind,
        "tracks": [
            {
                "code": code,
                "reasons": [{"rule": r.rule, "zh": r.zh, "en": r.en} for r in decision.reasons_for(code)],
            }
            for code in decision.tracks
        ],
        "findings": [_finding_json(f) for f in (*sheet.findings, *decision.findings)],
    }


def inspection_json(files: Sequence[InspectedFile], tracks: Sequence[str]) -> dict[str, Any]:
    """The whole inspection as one JSON-ready document with stable keys."""
    numbering = report_numbering(_numbers(files))
    documents = []
    for item in files:
        document: dict[str, Any] = {"path": item.path, "status": "read" if item.read else "refused"}
        if item.read is None:
            document |= {"kind": None, "error": _finding_json(item.refusal) if item.refusal else None}
            document |= {"findings": [], "sheets": []}
        else:
            document |= {"kind": str(item.read.kind), "error": None}
            document["findings"] = [_finding_json(f) for f in item.read.findings]
            document["sheets"] = [_sheet_json(s, d) for s, d in zip(item.read.sheets, item.routes, strict=True)]
        documents.append(document)
    return {
        "tracks_enabled": list(tracks),
        "files": documents,
        "sheet_count": sum(len(d["sheets"]) for d in documents),
        "numbering": {
            "duplicates": [_finding_json(f) for f in numbering if f.code == "SHEET_NUMBER_DUPLICATE"],
            "gaps": [_finding_json(f) for f in numbering if f.code == "SHEET_NUMBER_GAP"],
        },
        "ok": all(item.read is not None for item in files),
    }


def display_width(text: str) -> int:
    """Columns a terminal gives ``text``: CJK ideographs and full-width forms take two."""
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - display_width(text))


def format_table(columns: Sequence[_Column]) -> list[str]:
    """Columns aligned by display width, with a Chinese and an English header line."""
    widths = [max(display_width(c.zh), display_width(c.en), *(display_width(v) for v in c.values)) for c in columns]
    rows = [[c.zh for c in columns], [c.en for c in columns]]
    rows += [list(values) for values in zip(*(c.values for c in columns), strict=True)]
    lines = ["  ".join(_pad(cell, w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(2, "  ".join("-" * w for w in widths))
    return lines


def _discipline_label(code: str | None) -> str:
    if not code:
        return "-"
    discipline = discipline_by_code(code)
    return f"{discipline.zh} {discipline.en}" if discipline else code


def _finding_line(finding: Finding, where: str = "") -> str:
    prefix = f"{where}: " if where else ""
    return f"  [{finding.severity}] {finding.code} {prefix}{finding.zh} / {finding.en}"


_SHEET_COLUMNS = (
    ("序", "#"),
    ("图号", "number"),
    ("键", "key"),
    ("图名", "title"),
    ("专业", "discipline"),
    ("图幅", "paper"),
    ("尺寸(mm)", "size (mm)"),
    ("比例", "scale"),
    ("专项", "tracks"),
)


def _file_lines(item: InspectedFile) -> list[str]:
    if item.read is None:
        refusal = item.refusal or _error("无法读取", "unreadable")
        return [f"== {item.path}: 已拒收 / refused", f"  错误：{refusal.zh}", f"  error: {refusal.en}"]
    read = item.read
    lines = [f"== {item.path} ({read.kind}, {len(read.sheets)} 张图纸 / sheets)"]
    columns = [_Column(zh, en) for zh, en in _SHEET_COLUMNS]
    for sheet, decision in zip(read.sheets, item.routes, strict=True):
        block = sheet.title_block
        size = f"{sheet.width_pt * MM_PER_POINT:.0f}x{sheet.height_pt * MM_PER_POINT:.0f}"
        cells = (
            str(sheet.index + 1),
            block.number.display if block.number else "-",
            block.number.key if block.number else "-",
            block.title or "-",
            _discipline_label(block.discipline),
            sheet.paper or "-",
            size,
            sheet.scale or "-",
            ",".join(decision.tracks) or "-",
        )
        for column, cell in zip(columns, cells, strict=True):
            column.values.append(cell)
    lines += ["  " + line for line in format_table(columns)]
    lines += [_finding_line(f) for f in read.findings]
    for sheet, decision in zip(read.sheets, item.routes, strict=True):
        where = _sheet_label(item.path, sheet)
        lines += [_finding_line(f, where) for f in (*sheet.findings, *decision.findings)]
    return lines


def inspection_text(files: Sequence[InspectedFile]) -> str:
    """The human report: a table of sheets per file, their findings, then the numbering across all files."""
    lines: list[str] = []
    for item in files:
        lines += [*_file_lines(item), ""]
    numbering = report_numbering(_numbers(files))
    total = sum(len(item.read.sheets) for item in files if item.read)
    lines.append(f"共 {total} 张图纸 / {total} sheets in {len(files)} files")
    if numbering:
        lines.append("图号检查 / numbering:")
        lines += [_finding_line(f) for f in numbering]
    else:
        lines.append("图号无重复、无缺号 / numbering: no duplicates, no gaps")
    return "\n".join(lines)


def _tracks(given: tuple[str, ...]) -> tuple[str, ...]:
    if not given:
        return DEFAULT_TRACKS
    try:
        return check_tracks(given)
    except UnknownTrack as exc:
        raise click.BadParameter(str(exc), param_hint="--track") from exc


_FILE = click.Path(dir_okay=False, path_type=Path)


@click.command("inspect")
@click.argument("files", nargs=-1, required=True, type=_FILE)
@click.option("--json", "as_json", is_flag=True, help="输出一个 JSON 文档 / print one JSON document")
@click.option(
    "--track",
    "tracks",
    multiple=True,
    metavar="CODE",
    help=f"分专项时启用的专项，可多次指定（默认 {','.join(DEFAULT_TRACKS)}）/ tracks to route to, repeatable",
)
def inspect_command(files: tuple[Path, ...], as_json: bool, tracks: tuple[str, ...]) -> None:
    """识别图纸文件中的图纸（不需数据库）/ List the sheets of PDF and DXF files, offline.

    Exit status: 0 when every file was read, 1 when any was refused or unreadable, 2 for usage errors.
    """
    enabled = _tracks(tracks)
    inspected = inspect_files(files, enabled)
    if as_json:
        click.echo(json.dumps(inspection_json(inspected, enabled), ensure_ascii=False, indent=2, sort_keys=True))
    else:
        click.echo(inspection_text(inspected))
    refused = [item for item in inspected if item.read is None]
    if refused:
        if not as_json:
            click.echo(f"错误：{len(refused)} 个文件被拒收\nerror: {len(refused)} file(s) refused", err=True)
        sys.exit(1)


_UNSAFE = re.compile(r"[^\w.\-]+")


def safe_name(text: str, taken: set[str]) -> str:
    """A file name from a sheet number (建施-01 stays 建施-01), unique among ``taken`` (case-insensitive)."""
    stem = _UNSAFE.sub("_", unicodedata.normalize("NFKC", text)).strip("._") or "sheet"
    stem = stem[:80]
    name, n = stem, 1
    while name.casefold() in taken:
        n += 1
        name = f"{stem}~{n}"
    taken.add(name.casefold())
    return name


@dataclass
class _Timings:
    steps: dict[str, float] = field(default_factory=dict)

    def add(self, step: str, seconds: float) -> None:
        self.steps[step] = self.steps.get(step, 0.0) + seconds


def _write_tiles(pdf: bytes, out: Path, name: str, dpi: int) -> tuple[int, tuple[int, int]]:
    folder = out / f"{name}_files"
    count = 0

    def put(tile: str, data: bytes) -> None:
        nonlocal count
        target = folder / tile
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        count += 1

    pyramid = build_pyramid(pdf, 0, put, TileOptions(dpi=float(dpi)))
    # The descriptor is written last, as in the store: its presence means a complete pyramid.
    (out / f"{name}.dzi").write_bytes(pyramid.descriptor())
    return count, (pyramid.width, pyramid.height)


_STEP_NAMES = {
    "read": "读取、拆分、识别 / read, split, identify",
    "pdf": "写图纸 PDF / sheet PDFs",
    "tiles": "瓦片 / tiles",
    "thumbnail": "缩略图 / thumbnails",
}


@click.command("render")
@click.argument("file", type=_FILE)
@click.option(
    "-o",
    "--output",
    "output",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="输出目录 / output folder",
)
@click.option(
    "--dpi",
    type=click.IntRange(10, 1200),
    default=ViewOptions().dpi,
    show_default=True,
    help="瓦片最高一级的分辨率 / resolution of the top tile level",
)
@click.option("--no-tiles", is_flag=True, help="不生成 DZI 瓦片 / skip the Deep Zoom tiles")
def render_command(file: Path, output: Path, dpi: int, no_tiles: bool) -> None:
    """将图纸文件拆分为单张图纸 PDF、DZI 瓦片和缩略图（不需数据库）/ Render a file's sheets to a folder, offline.

    Writes <number>.pdf, <number>.dzi with <number>_files/<level>/<col>_<row>.png, and <number>.thumb.png
    per sheet. Exit status: 0 done, 1 file refused or unreadable, 2 usage errors.
    """
    timings = _Timings()
    started = time.perf_counter()
    read, refusal = read_file(file, sheet_pdfs=True)
    timings.add("read", time.perf_counter() - started)
    if read is None:
        refusal = refusal or _error("无法读取", "unreadable")
        click.echo(f"错误：{file}：{refusal.zh}\nerror: {file}: {refusal.en}", err=True)
        sys.exit(1)
    output.mkdir(parents=True, exist_ok=True)
    taken: set[str] = set()
    options = ViewOptions(dpi=dpi)
    columns = [_Column(zh, en) for zh, en in (("图号", "sheet"), ("文件", "file"), ("dpi", "dpi"), ("瓦片", "tiles"))]
    columns += [_Column("像素", "pixels"), _Column("耗时(s)", "time (s)")]
    for sheet, pdf in zip(read.sheets, read.pdfs, strict=True):
        sheet_started = time.perf_counter()
        number = sheet.title_block.number
        label = number.display if number else sheet.layout_name or f"{file.stem}-{sheet.index + 1:02d}"
        name = safe_name(label, taken)
        t0 = time.perf_counter()
        (output / f"{name}.pdf").write_bytes(pdf)
        timings.add("pdf", time.perf_counter() - t0)
        tiles, pixels, sheet_dpi = "-", "-", "-"
        if not no_tiles:
            t0 = time.perf_counter()
            chosen = choose_dpi(sheet.width_pt, sheet.height_pt, options)
            count, (width, height) = _write_tiles(pdf, output, name, chosen)
            timings.add("tiles", time.perf_counter() - t0)
            tiles, pixels, sheet_dpi = str(count), f"{width}x{height}", str(chosen)
        t0 = time.perf_counter()
        (output / f"{name}.thumb.png").write_bytes(render_thumbnail(pdf, 0, options.thumbnail_px))
        timings.add("thumbnail", time.perf_counter() - t0)
        cells = (_sheet_label(str(file), sheet), f"{name}.pdf", sheet_dpi, tiles, pixels)
        for column, cell in zip(columns, (*cells, f"{time.perf_counter() - sheet_started:.2f}"), strict=True):
            column.values.append(cell)
    click.echo(f"{file} ({read.kind}) → {output}: {len(read.sheets)} 张图纸 / sheets")
    click.echo("\n".join(format_table(columns)))
    click.echo("耗时 / timings:")
    for step, seconds in timings.steps.items():
        click.echo(f"  {_STEP_NAMES[step]}: {seconds:.2f} s")
    click.echo(f"  合计 / total: {time.perf_counter() - started:.2f} s")


commands = [inspect_command, render_command]
