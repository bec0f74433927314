"""CAD fonts mapped to Noto CJK (思源), shared by ezdxf's text layout and our PDF text.

Chinese drawings name fonts that a server does not have: 宋体 (SimSun, ``simsun.ttc``), 仿宋
(FangSong, ``fsdb``), 黑体 (SimHei), the AutoCAD stroke fonts ``txt.shx``/``romans.shx`` with the big
fonts ``gbcbig.shx``/``hztxt.shx``.  Every one of them is drawn with a Simplified Chinese Noto CJK
face: Song-like names with Noto Serif CJK SC, everything else with Noto Sans CJK SC.

Debian ships Noto CJK as collections (``.ttc``) whose first face is the Japanese one, and ezdxf always
opens face 0. The Simplified Chinese face is therefore copied once into a standalone ``.otf`` in a
cache folder; ezdxf measures text with that file and the PDF's fonts are made of its glyph outlines
(one parsed copy, shared), so the layout computed by ezdxf and the glyphs shown by the viewer agree.
"""

from __future__ import annotations

import math
import os
import re
import tempfile
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from ezdxf.fonts import fonts as ezdxf_fonts
from ezdxf.fonts.font_face import FontFace

DEFAULT_FONT_DIRS: tuple[Path, ...] = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"))
"""Where Noto CJK (Debian ``fonts-noto-cjk``) or Source Han is looked for."""


def default_cache_dir() -> Path:
    """Folder for the extracted single-face font files (about 16 MB per face, made once)."""
    return Path(tempfile.gettempdir()) / "liantu-cjk-fonts"


class FaceKind(StrEnum):
    """The four faces every CAD font is mapped to."""

    SANS = "sans"
    SANS_BOLD = "sans-bold"
    SERIF = "serif"
    SERIF_BOLD = "serif-bold"


# File name of the standalone face, then the collections that contain it (face chosen by family name).
_SOURCES: dict[FaceKind, tuple[str, tuple[str, ...]]] = {
    FaceKind.SANS: ("NotoSansCJKsc-Regular.otf", ("NotoSansCJK-Regular.ttc", "NotoSansCJKsc-Regular.otf")),
    FaceKind.SANS_BOLD: ("NotoSansCJKsc-Bold.otf", ("NotoSansCJK-Bold.ttc", "NotoSansCJKsc-Bold.otf")),
    FaceKind.SERIF: ("NotoSerifCJKsc-Regular.otf", ("NotoSerifCJK-Regular.ttc", "NotoSerifCJKsc-Regular.otf")),
    FaceKind.SERIF_BOLD: ("NotoSerifCJKsc-Bold.otf", ("NotoSerifCJK-Bold.ttc", "NotoSerifCJKsc-Bold.otf")),
}
_FALLBACK: dict[FaceKind, FaceKind] = {
    FaceKind.SANS_BOLD: FaceKind.SANS,
    FaceKind.SERIF: FaceKind.SANS,
    FaceKind.SERIF_BOLD: FaceKind.SERIF,
}

# Song/Ming (宋体), FangSong (仿宋, the GB/T 14691 lettering 长仿宋), Kai (楷体) and Latin serif faces.
_SERIF_HINTS = re.compile(
    r"song|simsun|nsimsun|sim_?sun|stsong|fang|fs_?gb|fsdb|^fs|kai|simkai|stkai|ming|serif|times|宋|仿宋|楷",
    re.IGNORECASE,
)
_BOLD_HINTS = re.compile(r"bold|black|heavy|粗", re.IGNORECASE)

# Names that should resolve to Noto even in code that asks ezdxf directly (e.g. inline MTEXT \f codes).
CAD_FONT_ALIASES: dict[FaceKind, tuple[str, ...]] = {
    FaceKind.SANS: (
        "simhei.ttf",
        "msyh.ttc",
        "msyh.ttf",
        "txt.shx",
        "txt_____.ttf",
        "romans.shx",
        "romans__.ttf",
        "simplex.shx",
        "simplex_.ttf",
        "isocp.shx",
        "isocp.ttf",
        "gbcbig.shx",
        "gbenor.shx",
        "gbeitc.shx",
        "hztxt.shx",
        "tssdeng.shx",
        "tssdchn.shx",
        "arialuni.ttf",
    ),
    FaceKind.SERIF: (
        "simsun.ttc",
        "simsun.ttf",
        "nsimsun.ttf",
        "simfang.ttf",
        "fangsong.ttf",
        "simkai.ttf",
        "fsdb.shx",
    ),
}


def classify(names: Iterable[str], *, bold: bool = False) -> FaceKind:
    """The Noto face for a CAD font described by its names (file name, big font, family)."""
    text = " ".join(n for n in names if n)
    serif = bool(_SERIF_HINTS.search(text))
    bold = bold or bool(_BOLD_HINTS.search(text))
    if serif:
        return FaceKind.SERIF_BOLD if bold else FaceKind.SERIF
    return FaceKind.SANS_BOLD if bold else FaceKind.SANS


@dataclass(frozen=True)
class FaceMetrics:
    """What layout and PDF embedding need to know about one face, read once per process."""

    path: Path
    postscript_name: str
    cid_of: dict[int, int]
    """Unicode code point → CID (equal to the glyph index in Noto CJK's Adobe-Identity-0 fonts)."""
    advance: dict[int, int]
    """CID → advance width in font units, for the PDF ``/W`` array."""
    units_per_em: int
    cap_height: float
    """Top of ``A`` above the baseline, in font units, measured like ezdxf does."""
    baseline: float
    """Bottom of ``x`` in font units (ezdxf puts this on the text baseline)."""
    bbox: tuple[int, int, int, int]
    ascent: int
    descent: int
    is_cid_keyed: bool


@cache
def face_metrics(path: Path) -> FaceMetrics:
    """Read the metrics of a single-face font file (cached for the life of the process)."""
    from fontTools.pens.boundsPen import ControlBoundsPen

    font = _shared_font(path)
    cmap: dict[int, str] = font.getBestCmap() or {}
    order: list[str] = font.getGlyphOrder()
    index = {name: gid for gid, name in enumerate(order)}
    is_cid = "CFF " in font and bool(getattr(font["CFF "].cff.topDictIndex[0], "ROS", None))

    def cid(name: str) -> int:
        if is_cid and name.startswith("cid") and name[3:].isdigit():
            return int(name[3:])
        return index[name]

    hmtx = font["hmtx"]
    cid_of = {code: cid(name) for code, name in cmap.items()}
    advance = {cid(name): hmtx[name][0] for name in set(cmap.values())}
    advance[0] = hmtx[order[0]][0]
    glyphs = font.getGlyphSet()

    def bounds(char: str) -> tuple[float, float, float, float]:
        pen = ControlBoundsPen(glyphs)
        glyphs[cmap[ord(char)]].draw(pen)
        return pen.bounds or (0.0, 0.0, 0.0, 0.0)

    baseline = bounds("x")[1]
    cap_height = bounds("A")[3] - baseline
    head = font["head"]
    hhea = font["hhea"]
    name = font["name"].getDebugName(6) or path.stem
    return FaceMetrics(
        path=path,
        postscript_name=re.sub(r"[^A-Za-z0-9-]", "", name),
        cid_of=cid_of,
        advance=advance,
        units_per_em=int(head.unitsPerEm),
        cap_height=float(cap_height),
        baseline=float(baseline),
        bbox=(int(head.xMin), int(head.yMin), int(head.xMax), int(head.yMax)),
        ascent=int(hhea.ascent),
        descent=int(hhea.descent),
        is_cid_keyed=is_cid,
    )


def _find_file(names: Sequence[str], dirs: Sequence[Path]) -> Path | None:
    wanted = {n.lower(): i for i, n in enumerate(names)}
    best: tuple[int, Path] | None = None
    for folder in dirs:
        if not folder.is_dir():
            continue
        for root, _dirs, files in os.walk(folder):
            for file in files:
                rank = wanted.get(file.lower())
                if rank is not None and (best is None or rank < best[0]):
                    best = (rank, Path(root) / file)
    return best[1] if best else None


def _extract_sc_face(collection: Path, target: Path) -> bool:
    """Copy the Simplified Chinese face of a collection into ``target``; False if there is none."""
    from fontTools.ttLib import TTCollection

    with TTCollection(str(collection), lazy=True) as faces:
        return _save_sc_face(faces, target)


def _save_sc_face(faces: Any, target: Path) -> bool:
    for face in faces.fonts:
        family = face["name"].getDebugName(1) or ""
        if "CJK SC" in family and "Mono" not in family:
            target.parent.mkdir(parents=True, exist_ok=True)
            # Several worker processes may do this at once: write aside, then rename atomically.
            fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".part")
            try:
                with os.fdopen(fd, "wb") as out:
                    face.save(out)
                os.chmod(tmp, 0o644)  # other worker users may read it
                os.replace(tmp, target)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
            return True
    return False


class CjkFonts:
    """The Noto CJK faces available on this machine, registered with ezdxf's font manager.

    One instance per process is enough (:func:`cjk_fonts`); preparing a face costs about a second
    the first time it is extracted on a machine and nothing afterwards.
    """

    def __init__(self, cache_dir: Path | None = None, search_dirs: Sequence[Path] = DEFAULT_FONT_DIRS) -> None:
        self._cache_dir = cache_dir or default_cache_dir()
        self._search_dirs = tuple(search_dirs)
        self._paths: dict[FaceKind, Path | None] = {}
        self._lock = threading.Lock()

    def path(self, kind: FaceKind) -> Path | None:
        """The single-face font file for ``kind`` (or its nearest available substitute)."""
        seen: set[FaceKind] = set()
        current: FaceKind | None = kind
        while current is not None and current not in seen:
            seen.add(current)
            found = self._prepare(current)
            if found is not None:
                return found
            current = _FALLBACK.get(current)
        return None

    def _prepare(self, kind: FaceKind) -> Path | None:
        with self._lock:
            if kind in self._paths:
                return self._paths[kind]
            standalone, sources = _SOURCES[kind]
            path: Path | None = self._cache_dir / standalone
            if path is not None and not path.exists():
                source = _find_file((standalone, *sources), self._search_dirs)
                if source is None:
                    path = None
                elif source.suffix.lower() == ".otf":
                    path = source
                elif not _extract_sc_face(source, self._cache_dir / standalone):
                    path = None
            if path is not None:
                _register_with_ezdxf(path, kind)
            self._paths[kind] = path
            return path

    def ezdxf_face(self, kind: FaceKind) -> FontFace | None:
        """The ezdxf font face that lays text out with exactly the glyph widths we embed."""
        path = self.path(kind)
        if path is None:
            return None
        return ezdxf_fonts.font_manager.get_font_face(path.name)

    def kind_of(self, face: FontFace | None) -> FaceKind | None:
        """Which of our faces an ezdxf font face is, if it is one of ours."""
        if face is None:
            return None
        name = face.filename.lower()
        for kind, path in self._paths.items():
            if path is not None and path.name.lower() == name:
                return kind
        return None


def _register_with_ezdxf(path: Path, kind: FaceKind) -> None:
    manager = ezdxf_fonts.font_manager
    if not manager.has_font(path.name):
        # scan_folder adds every font of the folder; ours holds only extracted faces.
        manager.scan_folder(path.parent)
    for alias in CAD_FONT_ALIASES.get(kind, ()):
        if not manager.has_font(alias):
            manager.add_synonyms({path.name: alias}, reverse=False)


_SHARED: CjkFonts | None = None
_SHARED_LOCK = threading.Lock()


def cjk_fonts(cache_dir: Path | None = None) -> CjkFonts:
    """The process-wide :class:`CjkFonts` (the first caller's ``cache_dir`` wins)."""
    global _SHARED  # noqa: PLW0603 - one font registry per process, like ezdxf's own font manager
    with _SHARED_LOCK:
        if _SHARED is None:
            _SHARED = CjkFonts(cache_dir)
        return _SHARED


@dataclass(frozen=True)
class GlyphOutline:
    """One glyph as PDF path operators in font units, with its advance and bounding box."""

    ops: str
    advance: int
    bbox: tuple[int, int, int, int]


def _shared_font(path: Path) -> Any:
    """The fontTools font ezdxf measures text with, so that its 15 MB of glyph data is parsed once."""
    manager = ezdxf_fonts.font_manager
    if manager.has_font(path.name):
        return manager.get_ttf_font(path.name)
    from fontTools.ttLib import TTFont

    return _unmanaged_font(path) if path.exists() else TTFont()


@cache
def _unmanaged_font(path: Path) -> Any:
    from fontTools.ttLib import TTFont

    return TTFont(str(path), lazy=True)


@cache
def _glyph_set(path: Path) -> tuple[Any, list[str] | None]:
    """The glyph set of ``path`` and, unless it is CID-keyed (names ``cidNNNNN``), its glyph order."""
    font = _shared_font(path)
    order: list[str] | None = None if face_metrics(path).is_cid_keyed else font.getGlyphOrder()
    return font.getGlyphSet(), order


@lru_cache(maxsize=32768)
def glyph_outline(path: Path, cid: int) -> GlyphOutline:
    """The outline of glyph ``cid`` of ``path`` (cached: a worker renders the same characters again and again)."""
    from fontTools.pens.basePen import BasePen

    glyphs, order = _glyph_set(path)
    if order is not None:
        name = order[cid] if 0 <= cid < len(order) else ".notdef"
    else:
        name = f"cid{cid:05d}" if cid else ".notdef"
    ops: list[str] = []
    xs: list[float] = []
    ys: list[float] = []

    class _Pen(BasePen):  # type: ignore[misc]
        def _point(self, *points: tuple[float, float]) -> str:
            for x, y in points:
                xs.append(x)
                ys.append(y)
            return " ".join(f"{x:g} {y:g}" for x, y in points)

        def _moveTo(self, pt: tuple[float, float]) -> None:
            ops.append(self._point(pt) + " m")

        def _lineTo(self, pt: tuple[float, float]) -> None:
            ops.append(self._point(pt) + " l")

        def _curveToOne(self, p1: tuple[float, float], p2: tuple[float, float], p3: tuple[float, float]) -> None:
            ops.append(self._point(p1, p2, p3) + " c")

        def _closePath(self) -> None:
            ops.append("h")

    glyph = glyphs[name] if name in glyphs else glyphs[".notdef"]
    glyph.draw(_Pen(glyphs))
    bbox = (math.floor(min(xs)), math.floor(min(ys)), math.ceil(max(xs)), math.ceil(max(ys))) if xs else (0, 0, 0, 0)
    return GlyphOutline(" ".join(ops), int(glyph.width), bbox)
