"""Title block (图签) reading from positioned text, whatever the source (PDF spans, DXF TEXT/MTEXT/ATTRIB).

Input is a list of text items in sheet coordinates (PDF points, origin top-left, y down). The reader:

1. joins fragments on one baseline into lines (CAD often writes 图 号 as two texts, or one text per glyph);
2. finds label lines (图号 / 图纸编号 / Sheet No. / Drawing No. / DWG NO, 图名 / Title, 比例 / Scale, 日期 / Date,
   设计单位, 建设单位, 专业) and reads the value written after the label on the same line, else the nearest
   line to its right, else the nearest line below it; each field's value must look like that field
   (a sheet number, a scale, a date...), otherwise the next candidate is tried;
3. among several occurrences of a label, the one nearest the bottom-right corner wins, where title blocks sit;
4. without a usable 图号 label, falls back to the largest text in the bottom-right region that is a sheet
   number as a whole.

``confidence`` says how the number was found: 0.9 label in the title-block region, 0.7 label elsewhere,
0.5 largest-font fallback, 0.0 none.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from review.sheets.disciplines import discipline_by_code, discipline_for_name
from review.sheets.findings import Finding, Severity
from review.sheets.numbers import SheetNumber, find_sheet_numbers, normalise_sheet_number

Field = Literal["number", "category", "title", "scale", "date", "institute", "client", "discipline", "paper"]
RawItem = tuple[float, float, float, float, str, float]


@dataclass(frozen=True)
class TextItem:
    """One piece of text on the sheet, in sheet coordinates (points, origin top-left)."""

    x0: float
    y0: float
    x1: float
    y1: float
    text: str
    size: float
    """Font size (text height) in points."""

    @property
    def height(self) -> float:
        return max(self.y1 - self.y0, self.size, 1e-3)

    @property
    def cy(self) -> float:
        return (self.y0 + self.y1) / 2


@dataclass(frozen=True)
class TitleBlockOptions:
    """Where to look for the title block."""

    region_x: float = 0.5
    """The title-block region starts at this fraction of the sheet width (right part)."""
    region_y: float = 0.5
    """The title-block region starts at this fraction of the sheet height (bottom part)."""


@dataclass(frozen=True)
class TitleBlock:
    """What a sheet's title block says."""

    number: SheetNumber | None
    """Normalised sheet number (图号), or None when none was found."""
    number_text: str | None
    """The 图号 value as written (NFKC-folded), also when it is not a recognisable sheet number."""
    title: str | None
    """Sheet title (图名)."""
    discipline: str | None
    """Discipline code (专业), from the 专业 field or else from the number's prefix."""
    scale: str | None
    """Scale (比例) as written, e.g. ``1:100``."""
    institute: str | None
    """Design institute (设计单位)."""
    client: str | None
    """Client (建设单位)."""
    date: str | None
    """Date (日期) as written."""
    confidence: float
    """How the number was found: 0.9 label in region, 0.7 label elsewhere, 0.5 fallback, 0.0 none."""
    findings: tuple[Finding, ...]
    """Problems met while reading."""


def _spaced(word: str) -> str:
    """A label pattern that tolerates spaces between its characters (图 号, D W G)."""
    return r"\s*".join(re.escape(ch) for ch in word)


_LABELS: dict[Field, tuple[str, ...]] = {
    "number": (
        "图纸编号",
        "图纸号",
        "图号",
        "SHEET NUMBER",
        "SHEET NO",
        "DRAWING NUMBER",
        "DRAWING NO",
        "DWG NO",
        "DWG",
    ),
    "title": ("图纸名称", "图名", "SHEET TITLE", "DRAWING TITLE", "TITLE"),
    "scale": ("比例", "SCALE", "МАСШТАБ"),
    "date": ("出图日期", "日期", "DATE", "ДАТА"),
    "institute": ("设计单位", "设计院"),
    "client": ("建设单位",),
    "discipline": ("专业", "DISCIPLINE"),
    # 图别 建施 + 图号 01: the prefix and the number in two cells.
    "category": ("图别",),
    # Read only so that a paper size (图幅 A1, Формат A4) is not taken for a sheet number.
    "paper": ("图幅", "SHEET SIZE", "PAPER SIZE", "FORMAT", "ФОРМАТ"),
}


def _label_alternatives() -> str:
    pieces: list[tuple[int, str]] = []
    for field, words in _LABELS.items():
        for word in words:
            body = r"\s*".join(_spaced(part) for part in word.split(" "))
            latin = word[0].isascii() or word[0] in "МД"
            head, tail = (r"(?<![A-ZА-Я])", r"\.?(?![A-ZА-Я])") if latin else ("", "")
            pieces.append((len(word), f"(?P<{field}_{len(pieces)}>{head}{body}{tail})"))
    return "|".join(p for _, p in sorted(pieces, key=lambda p: -p[0]))


_LABEL = re.compile(rf"(?:{_label_alternatives()})\s*[:：]?\s*", re.IGNORECASE)
_SCALE = re.compile(
    r"\d+(?:\.\d+)?\s*[:：]\s*\d+(?:\.\d+)?|\d+(?:/\d+)?\s*\"\s*=\s*\d+\s*'|NTS|N\.T\.S|AS SHOWN|不按比例|见图|如图",
    re.IGNORECASE,
)
_PAPER = re.compile(r"(?:A[0-4]|ARCH|ANSI)\b", re.IGNORECASE)
_DATE = re.compile(r"\d{2,4}\s*[-./年]\s*\d{1,2}(?:\s*[-./月]\s*\d{1,4}\s*日?)?")
_DIGITS = re.compile(r"\d{1,4}(?:\.\d{1,4}){0,2}")
_CJK = re.compile(r"[\u3400-\u9fff]")


@dataclass(frozen=True)
class _Line:
    """Text items joined on one baseline."""

    x0: float
    y0: float
    x1: float
    y1: float
    text: str
    size: float

    @property
    def height(self) -> float:
        return max(self.y1 - self.y0, 1e-3)

    @property
    def cy(self) -> float:
        return (self.y0 + self.y1) / 2


@dataclass(frozen=True)
class _Label:
    field: Field
    line: _Line
    rest: str
    """Text after the label on the same line, up to the next label."""


def _as_item(raw: TextItem | RawItem) -> TextItem:
    return raw if isinstance(raw, TextItem) else TextItem(*raw)


def _clean(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).replace("\ufffd", "").replace("\uffff", "")
    return " ".join(text.split())


def _short_cjk(text: str) -> bool:
    return 0 < len(text) <= 2 and all(_CJK.match(ch) for ch in text)


def _joinable(left: TextItem, right: TextItem) -> bool:
    h = max(left.height, right.height)
    if abs(left.cy - right.cy) > 0.35 * h or max(left.size, right.size) > 1.25 * max(min(left.size, right.size), 1e-3):
        return False
    gap = right.x0 - left.x1
    # CAD writes spaced-out labels (图    号) as separate texts with wide gaps between them.
    limit = 2.5 * h if _short_cjk(left.text) and _short_cjk(right.text) else 0.6 * h
    return -0.3 * h <= gap <= limit


def _join(texts: Sequence[TextItem]) -> _Line:
    parts: list[str] = []
    for previous, item in zip([None, *texts[:-1]], texts, strict=True):
        if previous is not None and item.x0 - previous.x1 > 0.2 * item.height and not _short_cjk(item.text):
            parts.append(" ")
        parts.append(item.text)
    return _Line(
        x0=min(t.x0 for t in texts),
        y0=min(t.y0 for t in texts),
        x1=max(t.x1 for t in texts),
        y1=max(t.y1 for t in texts),
        text="".join(parts).strip(),
        size=max(t.size for t in texts),
    )


_BUCKET = 2.0
"""Height in points of the horizontal strips that open lines are filed under while grouping."""


def group_lines(items: Iterable[TextItem]) -> list[_Line]:
    """Items joined into lines, reading order (top to bottom, left to right).

    Items are taken left to right; open lines are filed by the vertical centre of their last item, so
    each item only looks at lines in the few strips around its own centre. A line whose end lies too
    far to the left to be continued is dropped from the index (not from the result).
    """
    lines: list[list[TextItem]] = []
    index: dict[int, list[int]] = {}
    for item in sorted(items, key=lambda i: (i.x0, i.y0)):
        reach = 0.7 * item.height + 1
        chosen: int | None = None
        for strip in range(math.floor((item.cy - reach) / _BUCKET), math.floor((item.cy + reach) / _BUCKET) + 1):
            open_lines = index.get(strip)
            if not open_lines:
                continue
            # Items come left to right: a line ending this far left can never be continued.
            open_lines[:] = [
                n for n in open_lines if lines[n][-1].x1 + 3 * max(lines[n][-1].height, item.height) >= item.x0
            ]
            for number in open_lines:
                if _joinable(lines[number][-1], item) and (chosen is None or number < chosen):
                    chosen = number
        if chosen is None:
            chosen = len(lines)
            lines.append([item])
        else:
            last = lines[chosen][-1]
            index[math.floor(last.cy / _BUCKET)].remove(chosen)
            lines[chosen].append(item)
        index.setdefault(math.floor(item.cy / _BUCKET), []).append(chosen)
    joined = [_join(line) for line in lines]
    return sorted(joined, key=lambda line: (line.y0, line.x0))


def _find_labels(line: _Line) -> list[_Label]:
    """Labels of a line: one at its start, then any that follow it on the same line (比例 1:100 图号 建施-02)."""
    found: list[_Label] = []
    match = _LABEL.match(line.text)
    while match is not None:
        field = next(name.rsplit("_", 1)[0] for name, value in match.groupdict().items() if value)
        following = _LABEL.search(line.text, match.end())
        rest = line.text[match.end() : following.start() if following else len(line.text)]
        # Title/Name, Date (of revision)...: a column heading, not a label followed by its value.
        if not rest.startswith(("/", "(", "（")):
            found.append(_Label(field=field, line=line, rest=rest.strip()))  # type: ignore[arg-type]
        match = following
    return found


def _is_title(text: str) -> bool:
    if normalise_sheet_number(text) is not None or _SCALE.fullmatch(text) or _DATE.fullmatch(text):
        return False
    return sum(ch.isalpha() for ch in text) >= 2


_VALIDATORS: dict[Field, Callable[[str], bool]] = {
    "number": lambda text: bool(find_sheet_numbers(text)),
    "scale": lambda text: _SCALE.search(text) is not None,
    "date": lambda text: _DATE.search(text) is not None,
    "discipline": lambda text: discipline_for_name(text) is not None,
    "paper": lambda text: _PAPER.match(text) is not None,
    "category": lambda text: not any(ch.isdigit() for ch in text) and normalise_sheet_number(text + "-1") is not None,
    "title": _is_title,
    "institute": _is_title,
    "client": _is_title,
}


def _valid(field: Field, text: str) -> bool:
    """Whether ``text`` looks like a value of ``field`` (a sheet number for 图号, a scale for 比例...)."""
    return bool(text) and _VALIDATORS[field](text)


def _neighbours(label: _Label, lines: Sequence[_Line], labelled: set[int]) -> list[_Line]:
    """Lines to the right of the label and below it, nearest first."""
    anchor, h = label.line, label.line.height
    scored: list[tuple[float, int, _Line]] = []
    for index, line in enumerate(lines):
        if line is anchor or index in labelled:
            continue
        overlaps_row = line.y0 < anchor.y1 and line.y1 > anchor.y0
        dx = line.x0 - anchor.x1
        if overlaps_row and -0.5 * h <= dx <= 20 * h:
            scored.append((max(dx, 0) / h, index, line))
            continue
        dy = line.y0 - anchor.y1
        overlaps_column = line.x0 < anchor.x1 + 2 * h and line.x1 > anchor.x0 - 2 * h
        if overlaps_column and -0.3 * h <= dy <= 6 * h:
            offset = abs((line.x0 + line.x1) - (anchor.x0 + anchor.x1)) / 2
            scored.append((max(dy, 0) / h + 0.5 + 0.05 * offset / h, index, line))
    return [line for _, _, line in sorted(scored, key=lambda s: (s[0], s[1]))]


def _continued(first: _Line, lines: Sequence[_Line], labelled: set[int]) -> str:
    """A title written over several lines under each other (1ST FLOOR RCP / / ELECTRICAL PLAN)."""
    text, last = first.text, first
    for index, line in enumerate(lines):
        if index in labelled or line is first or line.y0 < last.y1 - 0.1 * last.height:
            continue
        aligned = abs(line.x0 - last.x0) <= last.height and abs(line.size - last.size) <= 0.2 * last.size
        if aligned and line.y0 - last.y1 <= 0.8 * last.height:
            both_cjk = _CJK.match(text[-1]) is not None and _CJK.match(line.text[0]) is not None
            text, last = text + ("" if both_cjk else " ") + line.text, line
    return text


_NO_TEXT = Finding(
    "TITLE_BLOCK_NO_TEXT",
    Severity.WARNING,
    "图纸中没有可读取的文字（文字可能已转为线条），无法识别图签",
    "The sheet has no readable text (text may have been converted to outlines); no title block found",
)
_NO_NUMBER = Finding(
    "TITLE_BLOCK_NO_NUMBER",
    Severity.WARNING,
    "未在图签中找到图号，请人工指定",
    "No sheet number found in the title block; please assign one by hand",
)


@dataclass(frozen=True)
class _Sheet:
    """The lines of one sheet and where its title block should be."""

    lines: tuple[_Line, ...]
    width: float
    height: float
    options: TitleBlockOptions

    def corner_distance(self, line: _Line) -> float:
        diagonal = math.hypot(self.width, self.height) or 1.0
        return math.hypot(self.width - (line.x0 + line.x1) / 2, self.height - line.cy) / diagonal

    def in_region(self, line: _Line) -> bool:
        return line.x1 >= self.width * self.options.region_x and line.y1 >= self.height * self.options.region_y


@dataclass
class _Reading:
    """Values found so far, with the label each came from."""

    values: dict[Field, tuple[str, _Label]]
    used: set[str]
    """Texts already taken as a value."""
    labelled: set[int]
    """Indexes of label lines."""
    unrecognised_number: str | None = None
    unrecognised_label: _Label | None = None


def _read_labels(sheet: _Sheet) -> _Reading:
    labels = [(index, label) for index, line in enumerate(sheet.lines) for label in _find_labels(line)]
    reading = _Reading(values={}, used=set(), labelled={index for index, _ in labels})
    for _, label in sorted(labels, key=lambda pair: sheet.corner_distance(pair[1].line)):
        if label.field in reading.values:
            continue
        if label.rest:
            if _valid(label.field, label.rest):
                reading.values[label.field] = (label.rest, label)
            elif label.field == "number" and reading.unrecognised_number is None:
                reading.unrecognised_number, reading.unrecognised_label = label.rest, label
            continue
        candidates = _neighbours(label, sheet.lines, reading.labelled)
        found = next((line for line in candidates if _valid(label.field, line.text)), None)
        if found is not None:
            reading.used.add(found.text)
            text = _continued(found, sheet.lines, reading.labelled) if label.field == "title" else found.text
            reading.values[label.field] = (text, label)
        elif label.field == "number" and candidates and reading.unrecognised_number is None:
            reading.unrecognised_number, reading.unrecognised_label = candidates[0].text, label
    return reading


def _number(sheet: _Sheet, reading: _Reading) -> tuple[SheetNumber | None, str | None, float, list[Finding]]:
    if "number" in reading.values:
        text, found = reading.values["number"]
        return find_sheet_numbers(text)[0], text, 0.9 if sheet.in_region(found.line) else 0.7, []
    written, label = reading.unrecognised_number, reading.unrecognised_label
    if written is not None and label is not None and "category" in reading.values and _DIGITS.fullmatch(written):
        combined = normalise_sheet_number(f"{reading.values['category'][0]}-{written}")
        if combined is not None:
            return combined, written, 0.9 if sheet.in_region(label.line) else 0.7, []
    paper = reading.values["paper"][0] if "paper" in reading.values else None
    fallback = [
        line
        for line in sheet.lines
        if sheet.in_region(line) and line.text != paper and normalise_sheet_number(line.text) is not None
    ]
    if fallback:
        best = min(fallback, key=lambda line: (-line.size, sheet.corner_distance(line)))
        return normalise_sheet_number(best.text), best.text, 0.5, []
    if written is None:
        return None, None, 0.0, [_NO_NUMBER]
    unrecognised = Finding(
        "TITLE_BLOCK_NUMBER_UNRECOGNISED",
        Severity.WARNING,
        f"图号“{written}”不符合图号格式，请人工确认",
        f"Sheet number '{written}' has no recognised format; please confirm it by hand",
    )
    return None, written, 0.0, [unrecognised]


def _discipline(number: SheetNumber | None, reading: _Reading) -> tuple[str | None, list[Finding]]:
    from_number = number.discipline if number else None
    named = discipline_for_name(reading.values["discipline"][0]) if "discipline" in reading.values else None
    if named is None or from_number is None:
        return (named.code if named else from_number), []
    if named.code == from_number:
        return from_number, []
    other = discipline_by_code(from_number)
    mismatch = Finding(
        "TITLE_BLOCK_DISCIPLINE_MISMATCH",
        Severity.WARNING,
        f"图签专业“{named.zh}”与图号前缀的专业“{other.zh if other else from_number}”不一致",
        f"Title block discipline '{named.en}' differs from the number prefix's '{other.en if other else from_number}'",
    )
    return from_number, [mismatch]


def _largest_title(sheet: _Sheet, reading: _Reading) -> str | None:
    """Without a 图名 label the sheet title is usually the largest lettering of the title block."""
    region = [(index, line) for index, line in enumerate(sheet.lines) if sheet.in_region(line)]
    if not region:
        return None
    sizes = sorted(line.size for _, line in region)
    median = sizes[len(sizes) // 2]
    named = [
        line
        for index, line in region
        if index not in reading.labelled
        and line.text not in reading.used
        and _is_title(line.text)
        and line.size >= 1.2 * median
    ]
    return max(named, key=lambda line: (line.size, -sheet.corner_distance(line))).text if named else None


def read_title_block(
    items: Iterable[TextItem | RawItem],
    page_width: float,
    page_height: float,
    options: TitleBlockOptions | None = None,
) -> TitleBlock:
    """Read a title block from positioned text items (x0, y0, x1, y1, text, size) in sheet coordinates."""
    cleaned = [TextItem(i.x0, i.y0, i.x1, i.y1, _clean(i.text), i.size) for i in map(_as_item, items)]
    lines = group_lines(i for i in cleaned if i.text)
    if not lines:
        return TitleBlock(None, None, None, None, None, None, None, None, 0.0, (_NO_TEXT,))
    sheet = _Sheet(tuple(lines), page_width, page_height, options or TitleBlockOptions())
    reading = _read_labels(sheet)
    number, number_text, confidence, findings = _number(sheet, reading)
    discipline, mismatch = _discipline(number, reading)

    def value(field: Field) -> str | None:
        return reading.values[field][0] if field in reading.values else None

    return TitleBlock(
        number=number,
        number_text=number_text,
        title=value("title") or _largest_title(sheet, reading),
        discipline=discipline,
        scale=value("scale"),
        institute=value("institute"),
        client=value("client"),
        date=value("date"),
        confidence=confidence,
        findings=(*findings, *mismatch),
    )
