"""What the result is composed from: project data, approved sheets and seal slots, with their checks."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass

from signing.errors import SigningProblem

PASSED = "合格"
"""The only conclusion a track may carry on the certificate."""

_SHA256 = re.compile(r"[0-9a-f]{64}")
_FIELD_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,39}")


class ResultInputInvalid(SigningProblem, ValueError):
    """The data given for the result is incomplete or out of range."""


class SheetUnreadable(SigningProblem, ValueError):
    """An approved sheet's PDF cannot be read, does not match its hash, or has an unusable page."""


class CertificateOverflow(SigningProblem, ValueError):
    """The certificate's content does not fit above the seal boxes on one page."""


@dataclass(frozen=True)
class TrackConclusion:
    """One review track's conclusion (专项审查结论)."""

    name_zh: str
    """Track name in Chinese, e.g. 消防审查."""
    name_en: str
    """Track name in English, e.g. Fire protection."""
    conclusion: str
    """The conclusion; must be 合格 on a certificate."""
    reviewers: tuple[str, ...]
    """Reviewers (审查人员) of the track."""
    lead: str
    """Track lead (专项负责人) who concluded the track."""
    concluded_on: dt.date
    """Date the track was concluded (办结日期)."""
    rounds: int
    """Number of review rounds (审查轮次) until it passed."""


@dataclass(frozen=True)
class ResultData:
    """Everything printed on the certificate (施工图联合审查合格书)."""

    project_name: str
    """Project name (项目名称)."""
    project_code: str
    """Project code (项目代码), e.g. the investment project code."""
    address: str
    """Site address (建设地点)."""
    building_use: str
    """Building use (建筑用途)."""
    floors_above: int
    """Storeys above ground (地上层数)."""
    floors_below: int
    """Storeys below ground (地下层数)."""
    height_m: float
    """Building height in metres (建筑高度)."""
    gross_floor_area_m2: float
    """Gross floor area in square metres (总建筑面积)."""
    fire_resistance_rating: str
    """Fire resistance rating (耐火等级), e.g. 一级."""
    civil_air_defence_area_m2: float
    """Civil air defence area in square metres (人防建筑面积); 0 when there is none."""
    review_number: str
    """Review number (审查编号) printed on every page of the result."""
    issued_on: dt.date
    """Issue date (签发日期)."""
    construction_unit: str
    """Construction unit (建设单位)."""
    design_institute: str
    """Design institute (设计单位)."""
    tracks: tuple[TrackConclusion, ...]
    """Every review track, in the order printed."""
    verification_url: str
    """Public verification page of this result; the QR codes point here."""


@dataclass(frozen=True)
class ApprovedSheet:
    """One approved drawing sheet as it goes into the result."""

    number: str
    """Sheet number (图号), e.g. 建施-01."""
    title: str
    """Sheet title (图名)."""
    round_number: int
    """Review round (审查轮次) in which this revision was approved."""
    original_sha256: str
    """SHA-256 of the uploaded original file (DXF or PDF), lower-case hex."""
    sheet_sha256: str
    """SHA-256 of ``sheet_pdf``, lower-case hex; checked against the bytes."""
    sheet_pdf: bytes
    """The sheet PDF (rendered DXF layout, or the uploaded PDF)."""
    page_index: int = 0
    """Zero-based page of ``sheet_pdf`` that is this sheet."""


@dataclass(frozen=True)
class SealSlot:
    """Where one department's seal goes on the certificate page."""

    department: str
    """Department name printed under the box, e.g. 某市消防救援支队."""
    field_name: str
    """Signature field name (ASCII, e.g. ``fire``)."""
    box: tuple[int, int, int, int]
    """Rectangle on the certificate page in PDF points, origin lower-left: x0, y0, x1, y1."""


@dataclass(frozen=True)
class ResultLimits:
    """Bounds on what one result may hold."""

    max_sheets: int = 2000
    """Most approved sheets in one result."""
    max_tracks: int = 5
    """Most review tracks on the certificate (more do not fit on one A4 page with four seals)."""
    max_text: int = 200
    """Longest text field, in characters."""
    min_page_side: float = 100.0
    """Shortest accepted sheet side in points."""
    max_page_side: float = 14400.0
    """Longest accepted sheet side in points (PDF's 200-inch limit)."""


def _text(value: str, what_zh: str, what_en: str, limits: ResultLimits, *, required: bool = True) -> None:
    if required and not value.strip():
        raise ResultInputInvalid(f"{what_zh}不能为空", f"{what_en} must not be empty")
    if len(value) > limits.max_text:
        raise ResultInputInvalid(
            f"{what_zh}过长（最多 {limits.max_text} 个字符）",
            f"{what_en} is too long (at most {limits.max_text} characters)",
        )


def check_data(data: ResultData, limits: ResultLimits) -> None:
    """Raise :class:`ResultInputInvalid` for the first problem found."""
    _check_project(data, limits)
    _check_tracks(data, limits)


def _check_project(data: ResultData, limits: ResultLimits) -> None:
    for value, zh, en in (
        (data.project_name, "项目名称", "The project name"),
        (data.project_code, "项目代码", "The project code"),
        (data.address, "建设地点", "The address"),
        (data.building_use, "建筑用途", "The building use"),
        (data.fire_resistance_rating, "耐火等级", "The fire resistance rating"),
        (data.review_number, "审查编号", "The review number"),
        (data.construction_unit, "建设单位", "The construction unit"),
        (data.design_institute, "设计单位", "The design institute"),
    ):
        _text(value, zh, en, limits)
    if len(data.review_number) > 40:
        raise ResultInputInvalid(
            "审查编号过长（最多 40 个字符）", "The review number is too long (at most 40 characters)"
        )
    if not 0 <= data.floors_above <= 200 or not 0 <= data.floors_below <= 20:
        raise ResultInputInvalid("层数超出范围", "The number of storeys is out of range")
    if not 0 < data.height_m <= 1000:
        raise ResultInputInvalid("建筑高度须在 0 至 1000 米之间", "The building height must be between 0 and 1000 m")
    if not 0 < data.gross_floor_area_m2 <= 10_000_000 or not 0 <= data.civil_air_defence_area_m2 <= 10_000_000:
        raise ResultInputInvalid("建筑面积超出范围", "A floor area is out of range")
    if not data.verification_url.startswith(("https://", "http://")) or len(data.verification_url) > 300:
        raise ResultInputInvalid(
            "核验网址须以 http:// 或 https:// 开头且不超过 300 个字符",
            "The verification URL must start with http:// or https:// and be at most 300 characters",
        )


def _check_tracks(data: ResultData, limits: ResultLimits) -> None:
    if not data.tracks:
        raise ResultInputInvalid("至少需要一个审查专项", "At least one review track is required")
    if len(data.tracks) > limits.max_tracks:
        raise ResultInputInvalid(
            f"审查专项过多（最多 {limits.max_tracks} 个）", f"Too many review tracks (at most {limits.max_tracks})"
        )
    for track in data.tracks:
        _text(track.name_zh, "专项名称", "The track name", limits)
        _text(track.lead, f"{track.name_zh}专项负责人", f"The lead of track {track.name_en}", limits)
        if track.conclusion != PASSED:
            raise ResultInputInvalid(
                f"{track.name_zh}的结论为“{track.conclusion}”，合格书只能列入结论为“合格”的专项",
                f"Track {track.name_en} concluded “{track.conclusion}”; only passed tracks go on the certificate",
            )
        if not track.reviewers or not all(name.strip() for name in track.reviewers):
            raise ResultInputInvalid(f"{track.name_zh}没有审查人员", f"Track {track.name_en} has no reviewers")
        _text("、".join(track.reviewers), f"{track.name_zh}审查人员", f"The reviewers of {track.name_en}", limits)
        if not 1 <= track.rounds <= 99:
            raise ResultInputInvalid(
                f"{track.name_zh}的审查轮次须在 1 至 99 之间", f"The rounds of {track.name_en} must be 1 to 99"
            )
        if track.concluded_on > data.issued_on:
            raise ResultInputInvalid(
                f"{track.name_zh}的办结日期晚于签发日期", f"Track {track.name_en} concluded after the issue date"
            )


def check_sheets(sheets: Sequence[ApprovedSheet], limits: ResultLimits) -> None:
    """Raise :class:`ResultInputInvalid` for missing, duplicate or malformed sheet entries."""
    if not sheets:
        raise ResultInputInvalid("至少需要一张审查合格的图纸", "At least one approved sheet is required")
    if len(sheets) > limits.max_sheets:
        raise ResultInputInvalid(
            f"图纸过多：{len(sheets)} 张（最多 {limits.max_sheets} 张）",
            f"Too many sheets: {len(sheets)} (at most {limits.max_sheets})",
        )
    seen: set[str] = set()
    for sheet in sheets:
        _text(sheet.number, "图号", "The sheet number", limits)
        _text(sheet.title, f"图纸 {sheet.number} 的图名", f"The title of sheet {sheet.number}", limits)
        if sheet.number in seen:
            raise ResultInputInvalid(f"图号重复：{sheet.number}", f"Duplicate sheet number: {sheet.number}")
        seen.add(sheet.number)
        for digest in (sheet.original_sha256, sheet.sheet_sha256):
            if not _SHA256.fullmatch(digest):
                raise ResultInputInvalid(
                    f"图纸 {sheet.number} 的 SHA-256 须为 64 位小写十六进制",
                    f"The SHA-256 of sheet {sheet.number} must be 64 lower-case hex digits",
                )
        if not 1 <= sheet.round_number <= 99:
            raise ResultInputInvalid(
                f"图纸 {sheet.number} 的轮次须在 1 至 99 之间", f"The round of sheet {sheet.number} must be 1 to 99"
            )


def check_slots(slots: Sequence[SealSlot], page_width: float, page_height: float) -> None:
    """Raise :class:`ResultInputInvalid` for missing, duplicate, misplaced or overlapping seal slots."""
    if not slots:
        raise ResultInputInvalid("至少需要一个签章位置", "At least one seal slot is required")
    names = [slot.field_name for slot in slots]
    if len(set(names)) != len(names):
        raise ResultInputInvalid("签章域名称重复", "Seal field names must be unique")
    for index, slot in enumerate(slots):
        if not _FIELD_NAME.fullmatch(slot.field_name):
            raise ResultInputInvalid(
                f"签章域名称 {slot.field_name!r} 须为字母开头的英文字母、数字或下划线",
                f"Seal field name {slot.field_name!r} must be ASCII letters, digits or underscores",
            )
        if not slot.department.strip() or len(slot.department) > 40:
            raise ResultInputInvalid("签章部门名称为空或过长", "A seal's department name is empty or too long")
        x0, y0, x1, y1 = slot.box
        if not (x0 >= 0 and x0 + 40 <= x1 <= page_width and y0 >= 20 and y0 + 40 <= y1 <= page_height):
            raise ResultInputInvalid(
                f"{slot.department}的签章框不在合格书页面内或过小",
                f"The seal box of {slot.department} is outside the certificate page or too small",
            )
        for other in slots[index + 1 :]:
            ox0, oy0, ox1, oy1 = other.box
            if x0 < ox1 and ox0 < x1 and y0 < oy1 and oy0 < y1:
                raise ResultInputInvalid(
                    f"{slot.department}与{other.department}的签章框重叠",
                    f"The seal boxes of {slot.department} and {other.department} overlap",
                )
