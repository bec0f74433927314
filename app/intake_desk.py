"""The intake clerk's desk (受理窗口): completeness per track, manual fixes, and the intake decision.

What the clerk sees is computed from what is stored: the submission's sheets (number, title,
discipline, tracks), the project's facts, and the enabled tracks, fed to :mod:`review.routing`.
The clerk may correct a sheet's number and title and the tracks it goes to while the submission
waits for intake, then accept it (受理), accept it on the designer's written commitment to supply
what is missing (容缺受理) or return it with the list of what is missing (退回补正).

Acceptance opens the review round (round 1 the first time) with a track review for every enabled
track some sheet is routed to, in the same transaction as the state change, so that reviewers see
the case exactly when it is accepted.

Every change is recorded with :func:`app.audit.record`. Manual fixes raise the submission's
version, so a decision taken on a page shown before someone else's fix is refused (``Conflict``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from app import audit, deadlines, fees, policy, submissions
from app.errors import Conflict, Invalid, NotFound
from app.identity.principal import Principal
from app.intake.steps_record import DUPLICATE_PREFIX, FILE_SETTLED, NUMBER_LENGTH, PROVISIONAL_PREFIX, sheet_key
from app.policy import Action
from app.tracks import enabled_tracks
from review.routing.checklist import ChecklistReport, IntakeDecision, IntakeOptions, evaluate, intake_options
from review.routing.errors import RoutingError
from review.routing.facts import ProjectFacts, SheetFacts, building_use_code
from review.routing.kinds import kind_table
from review.routing.rules import KNOWN_TRACKS, apply_override, route
from review.sheets.findings import Finding, Severity
from review.sheets.numbers import normalise_sheet_number, report_numbering
from storage.models import (
    AuditEvent,
    DrawingFile,
    Project,
    Role,
    RoleGrant,
    Round,
    Sheet,
    SheetRevision,
    SheetTrack,
    Submission,
    SubmissionState,
    TrackReview,
    TrackReviewer,
    TrackReviewState,
    User,
    utcnow,
)

TITLE_LENGTH = 200
INTAKE_ACTIONS = ("submission.accept", "submission.return", "submission.start_review", "sheet.corrected")
"""Audit actions shown in the intake record of a submission."""


@dataclass(frozen=True)
class SheetEntry:
    """One sheet as the clerk sees it."""

    sheet: Sheet
    """The stored sheet."""
    facts: SheetFacts
    """Number, title, discipline and prefix as routing reads them."""
    kind: str
    """Sheet kind code (图纸类别)."""
    kind_zh: str
    """Kind in Chinese."""
    kind_en: str
    """Kind in English."""
    tracks: tuple[str, ...]
    """Tracks the sheet goes to."""
    overridden: bool
    """Whether the clerk set the tracks by hand."""
    findings: tuple[dict[str, Any], ...]
    """Findings of the sheet's latest revision (as stored)."""
    revision_id: int | None
    """Latest revision, for the viewer link."""
    claimed: str | None = None
    """The number the sheet counts under in the numbering report (see ``claimed_number``)."""


@dataclass(frozen=True)
class IntakeCase:
    """Everything the intake page shows about one submission."""

    submission: Submission
    """The submission."""
    project: Project
    """Its project."""
    tracks: tuple[str, ...]
    """Enabled, known track codes in display order."""
    sheets: tuple[SheetEntry, ...]
    """Every sheet of the submission, by number."""
    report: ChecklistReport
    """The checklist of every enabled track."""
    options: IntakeOptions
    """What the checklist allows: accept, accept on commitment, return."""
    files: tuple[DrawingFile, ...]
    """The uploaded files, oldest first."""
    findings: tuple[Finding, ...]
    """Numbering gaps and duplicates across all files, unrecognised numbers, unknown project facts."""
    record: tuple[AuditEvent, ...]
    """Intake decisions and manual fixes so far, oldest first."""

    def sheets_of(self, track: str) -> tuple[SheetEntry, ...]:
        """The sheets routed to ``track``."""
        return tuple(entry for entry in self.sheets if track in entry.tracks)

    @property
    def unrouted(self) -> tuple[SheetEntry, ...]:
        """Sheets that go to no enabled track."""
        return tuple(entry for entry in self.sheets if not set(entry.tracks) & set(self.tracks))

    @property
    def processing(self) -> tuple[DrawingFile, ...]:
        """Files not yet split into sheets nor rejected: the checklist may still change."""
        return tuple(f for f in self.files if f.status not in FILE_SETTLED)

    @property
    def deciding(self) -> bool:
        """Whether the submission waits for the intake decision."""
        return self.submission.state is SubmissionState.SUBMITTED


# Reading ---------------------------------------------------------------------------------------


def project_facts(project: Project) -> ProjectFacts:
    """The checklist's facts of a stored project; zero where the project form requires more means unknown."""
    return ProjectFacts(
        civil_air_defence_area_m2=project.civil_air_defence_area_m2,
        floors_above=project.floors_above or None,
        floors_below=project.floors_below,
        height_m=project.height_m or None,
        gross_floor_area_m2=project.gross_floor_area_m2 or None,
        building_use=building_use_code(project.building_use),
    )


def desk_tracks(session: Session) -> tuple[str, ...]:
    """Enabled tracks that routing and checklists know, in display order."""
    return tuple(track.code for track in enabled_tracks(session) if track.code in KNOWN_TRACKS)


def load_case(session: Session, actor: Principal, submission_id: int) -> IntakeCase:
    """The intake view of a submission; only for those who may take intake decisions."""
    submission = _submission(session, actor, submission_id)
    tracks = desk_tracks(session)
    sheets = _entries(session, submission.id)
    report = evaluate(project_facts(submission.project), (entry.facts for entry in sheets), tracks)
    files = tuple(
        session.scalars(select(DrawingFile).where(DrawingFile.submission_id == submission.id).order_by(DrawingFile.id))
    )
    return IntakeCase(
        submission=submission,
        project=submission.project,
        tracks=tracks,
        sheets=sheets,
        report=report,
        options=intake_options(report),
        files=files,
        findings=(*numbering_findings(e.claimed for e in sheets if e.claimed is not None), *report.findings),
        record=_record(session, submission.id, [entry.sheet.id for entry in sheets]),
    )


def intake_decisions(session: Session, actor: Principal, submission_id: int) -> tuple[AuditEvent, ...]:
    """The intake decisions taken on a submission (受理、容缺受理 with the commitment, 退回 with the reasons).

    For everyone who may see the submission, the designer first: what to supply is in these summaries.
    """
    submission = session.get(Submission, submission_id)
    if submission is None:
        raise NotFound("没有该报审", "no such submission")
    policy.require(actor, Action.VIEW_SUBMISSION, submission=submission)
    return tuple(
        session.scalars(
            select(AuditEvent)
            .where(
                AuditEvent.action.in_(("submission.accept", "submission.return")),
                AuditEvent.object_type == "submission",
                AuditEvent.object_id == str(submission_id),
            )
            .order_by(AuditEvent.id)
        )
    )


def claimed_number(number: str, title_block: Mapping[str, Any] | None) -> str | None:
    """The number a sheet counts under in the numbering report of its submission.

    Its own number, except for the numbers intake gave while waiting for the clerk: a sheet recorded as
    ``重复-<number>-<file>`` counts under the number its title block gives, so that a number used in two
    files is reported as a duplicate; a provisional ``未识别-…`` counts under none (the sheet carries
    TITLE_BLOCK_NO_NUMBER already).
    """
    if number.startswith(f"{PROVISIONAL_PREFIX}-"):
        return None
    if number.startswith(f"{DUPLICATE_PREFIX}-"):
        read = (title_block or {}).get("number")
        return read if isinstance(read, str) and read else None
    return number


def numbering_report(sheets: Iterable[tuple[str, Mapping[str, Any] | None]]) -> tuple[Finding, ...]:
    """Duplicates, gaps and unrecognised numbers across every file of a submission.

    ``sheets`` are the submission's sheets as (stored number, title block read at intake).
    """
    claimed = (claimed_number(number, block) for number, block in sheets)
    return numbering_findings(number for number in claimed if number is not None)


def numbering_findings(numbers: Iterable[str]) -> tuple[Finding, ...]:
    """Gaps and duplicates in the numbering, and numbers that follow no known scheme."""
    parsed, unrecognised = [], []
    for number in numbers:
        found = normalise_sheet_number(number)
        if found is None:
            unrecognised.append(number)
        else:
            parsed.append(found)
    findings = list(report_numbering(parsed))
    for number in sorted(unrecognised):
        findings.append(
            Finding(
                "SHEET_NUMBER_UNRECOGNISED",
                Severity.WARNING,
                f"图号 {number} 不符合图号规则，请核对并更正",
                f"sheet number {number} follows no known numbering scheme; check and correct it",
            )
        )
    return tuple(findings)


def _submission(session: Session, actor: Principal, submission_id: int) -> Submission:
    submission = session.get(Submission, submission_id)
    if submission is None:
        raise NotFound("没有该报审", "no such submission")
    policy.require(actor, Action.INTAKE, submission=submission)
    return submission


def _entries(session: Session, submission_id: int) -> tuple[SheetEntry, ...]:
    sheets = session.scalars(select(Sheet).where(Sheet.submission_id == submission_id).order_by(Sheet.number))
    latest: dict[int, SheetRevision] = {}
    revisions = session.scalars(
        select(SheetRevision)
        .join(Sheet, Sheet.id == SheetRevision.sheet_id)
        .join(Round, Round.id == SheetRevision.round_id)
        .where(Sheet.submission_id == submission_id)
        .order_by(Round.number)
    )
    for found in revisions:
        latest[found.sheet_id] = found
    kinds = kind_table().kinds
    entries = []
    for sheet in sheets:
        facts = SheetFacts.of(sheet.number, sheet.title, sheet.discipline or None)
        kind = kinds.get(facts.sheet_kind)
        revision = latest.get(sheet.id)
        order = {code: index for index, code in enumerate(KNOWN_TRACKS)}
        tracks = tuple(sorted((t.track_code for t in sheet.tracks), key=lambda code: order.get(code, len(order))))
        entries.append(
            SheetEntry(
                sheet=sheet,
                facts=facts,
                kind=facts.sheet_kind,
                kind_zh=kind.zh if kind else facts.sheet_kind,
                kind_en=kind.en if kind else facts.sheet_kind,
                tracks=tracks,
                overridden=any(t.overridden for t in sheet.tracks),
                findings=tuple(revision.findings) if revision else (),
                revision_id=revision.id if revision else None,
                claimed=claimed_number(sheet.number, revision.title_block if revision else None),
            )
        )
    return tuple(entries)


def _record(session: Session, submission_id: int, sheet_ids: list[int]) -> tuple[AuditEvent, ...]:
    about_submission = (AuditEvent.object_type == "submission") & (AuditEvent.object_id == str(submission_id))
    about_sheets = (AuditEvent.object_type == "sheet") & AuditEvent.object_id.in_([str(i) for i in sheet_ids])
    return tuple(
        session.scalars(
            select(AuditEvent)
            .where(AuditEvent.action.in_(INTAKE_ACTIONS), about_submission | about_sheets)
            .order_by(AuditEvent.id)
        )
    )


# Manual fixes ----------------------------------------------------------------------------------


def correct_sheet(
    session: Session,
    actor: Principal,
    submission_id: int,
    sheet_id: int,
    *,
    number: str,
    title: str,
    tracks: Iterable[str] | None,
    expected_version: int | None = None,
) -> Sheet:
    """Fix a sheet's number and title, and its tracks when ``tracks`` differs from them (人工调整).

    The number is normalised (建施-1 → 建施-01) and must not name another sheet of the submission
    (``Conflict``). Tracks set by hand are kept as the clerk's (``SheetTrack.overridden``); while
    none are, a changed number or title routes the sheet again by the rules.
    """
    submission = _open_for_intake(session, actor, submission_id, expected_version)
    sheet = session.get(Sheet, sheet_id)
    if sheet is None or sheet.submission_id != submission.id:
        raise NotFound("没有该图纸", "no such sheet")
    new_number = _normalised_number(number)
    new_title = " ".join(title.split())[:TITLE_LENGTH]
    if sheet_key(new_number) != sheet_key(sheet.number):
        taken = session.scalars(
            select(Sheet.number).where(Sheet.submission_id == submission.id, Sheet.id != sheet.id)
        ).all()
        clash = next((n for n in taken if sheet_key(n) == sheet_key(new_number)), None)
        if clash is not None:
            raise Conflict(
                f"图号 {new_number} 已被本报审的图纸 {clash} 使用",
                f"sheet number {new_number} is already used by sheet {clash} of this submission",
            )
    changes_zh, changes_en = [], []
    if new_number != sheet.number:
        changes_zh.append(f"图号 {sheet.number} → {new_number}")
        changes_en.append(f"number {sheet.number} → {new_number}")
        parsed = normalise_sheet_number(new_number)
        if parsed is not None and parsed.discipline:
            sheet.discipline = parsed.discipline[:40]
        sheet.number = new_number
    if new_title != sheet.title:
        changes_zh.append(f"图名 “{sheet.title}” → “{new_title}”")
        changes_en.append(f"title '{sheet.title}' → '{new_title}'")
        sheet.title = new_title
    enabled = desk_tracks(session)
    before = sorted(t.track_code for t in sheet.tracks)
    # The form sends the ticked tracks every time: the same set as shown means the tracks were left alone.
    if tracks is not None and set(tracks) == {code for code in before if code in enabled}:
        tracks = None
    if tracks is not None:
        wanted = set(tracks)
        if not wanted <= set(enabled):
            unknown = ", ".join(sorted(wanted - set(enabled)))
            raise Invalid(f"专项 {unknown} 未启用或不存在", f"track {unknown} is not enabled or does not exist")
        after = _override(sheet, enabled, wanted)
        _set_tracks(sheet, after, enabled, overridden=True)
    elif changes_zh and not any(t.overridden for t in sheet.tracks):
        after = route(SheetFacts.of(sheet.number, sheet.title, sheet.discipline or None), enabled).tracks
        _set_tracks(sheet, after, enabled, overridden=False)
    if sorted(t.track_code for t in sheet.tracks) != before:
        now = sorted(t.track_code for t in sheet.tracks)
        changes_zh.append(f"专项 {'、'.join(before) or '无'} → {'、'.join(now) or '无'}")
        changes_en.append(f"tracks {', '.join(before) or 'none'} → {', '.join(now) or 'none'}")
    if not changes_zh:
        return sheet
    _touch(session, submission)
    audit.record(
        session,
        actor_id=actor.user_id,
        actor_name=actor.username,
        action="sheet.corrected",
        object_type="sheet",
        object_id=sheet.id,
        summary=f"{'；'.join(changes_zh)} / {'; '.join(changes_en)}",
    )
    return sheet


def _normalised_number(text: str) -> str:
    raw = " ".join(text.split())
    if not raw:
        raise Invalid("请填写图号", "the sheet number is required")
    parsed = normalise_sheet_number(raw)
    number = parsed.display if parsed is not None else raw
    if len(number) > NUMBER_LENGTH:
        raise Invalid(
            f"图号不能超过 {NUMBER_LENGTH} 个字符", f"the sheet number is longer than {NUMBER_LENGTH} characters"
        )
    return number


def _override(sheet: Sheet, enabled: tuple[str, ...], wanted: set[str]) -> tuple[str, ...]:
    decision = route(SheetFacts.of(sheet.number, sheet.title, sheet.discipline or None), enabled)
    try:
        changed = apply_override(
            decision, add=sorted(wanted - set(decision.tracks)), remove=sorted(set(decision.tracks) - wanted)
        )
    except RoutingError as exc:
        raise Invalid(exc.zh, exc.en) from exc
    return changed.tracks


def _set_tracks(sheet: Sheet, codes: Iterable[str], enabled: tuple[str, ...], *, overridden: bool) -> None:
    # Rows of disabled tracks stay as they are: the clerk sees and sets enabled tracks only.
    keep = set(codes)
    for row in list(sheet.tracks):
        if row.track_code in enabled and row.track_code not in keep:
            sheet.tracks.remove(row)
    present = {row.track_code for row in sheet.tracks}
    for row in sheet.tracks:
        if row.track_code in keep:
            row.overridden = overridden
    sheet.tracks.extend(SheetTrack(track_code=code, overridden=overridden) for code in sorted(keep - present))


def _open_for_intake(
    session: Session, actor: Principal, submission_id: int, expected_version: int | None
) -> Submission:
    submission = _submission(session, actor, submission_id)
    if submission.state is not SubmissionState.SUBMITTED:
        raise Conflict("该报审当前不在受理阶段", "the submission is not waiting for intake now")
    if expected_version is not None and submission.version != expected_version:
        raise _stale()
    return submission


def _stale() -> Conflict:
    return Conflict(
        "该报审已被他人更新，请刷新后重试",
        "the submission was changed by someone else; reload it and try again",
    )


def _touch(session: Session, submission: Submission) -> None:
    """Raise the submission's version: a decision taken on the page shown before this fix is refused."""
    submission.updated_at = utcnow()
    try:
        session.flush()
    except StaleDataError as exc:
        raise _stale() from exc


# Decisions -------------------------------------------------------------------------------------


def accept(
    session: Session,
    actor: Principal,
    submission_id: int,
    *,
    commitment: str | None = None,
    expected_version: int | None = None,
) -> Round:
    """受理, or 容缺受理 when ``commitment`` is given; returns the review round opened for it.

    Plain acceptance needs nothing missing; acceptance on commitment needs nothing essential
    missing, something non-essential missing, and the commitment's text. Otherwise ``Invalid``.
    """
    # State and version first: a page that is out of date is told so, whatever its checklist said.
    _open_for_intake(session, actor, submission_id, expected_version)
    case = load_case(session, actor, submission_id)
    decision = case.options.decision
    if decision is IntakeDecision.RETURN:
        raise Invalid(
            "缺少必备材料，不能受理，请退回补正", "essential items are missing; return the submission instead"
        )
    tolerated = commitment is not None
    if tolerated and decision is IntakeDecision.ACCEPT:
        raise Invalid("材料齐全，无需容缺受理", "nothing is missing; accept without a commitment")
    if not tolerated and decision is IntakeDecision.ACCEPT_WITH_COMMITMENT:
        raise Invalid(
            "尚缺可容缺材料，请填写设计单位的书面承诺后容缺受理",
            "items are missing that may follow later; accept on the designer's written commitment",
        )
    text = " ".join((commitment or "").split())
    if tolerated and not text:
        raise Invalid("请填写设计单位的书面承诺", "enter the designer's written commitment")
    submissions.accept(
        session,
        actor,
        submission_id,
        deficiency_tolerated=tolerated,
        commitment=text,
        expected_version=expected_version,
    )
    opened = open_round(session, case.submission, routed_tracks(session, submission_id, case.tracks))
    fees.issue_invoice(session, submission_id)
    return opened


def routed_tracks(session: Session, submission_id: int, enabled: Iterable[str]) -> tuple[str, ...]:
    """Enabled tracks that at least one sheet of the submission goes to, in display order."""
    codes = set(
        session.scalars(
            select(SheetTrack.track_code)
            .join(Sheet, Sheet.id == SheetTrack.sheet_id)
            .where(Sheet.submission_id == submission_id)
        )
    )
    return tuple(code for code in enabled if code in codes)


def open_round(session: Session, submission: Submission, tracks: Iterable[str]) -> Round:
    """The round this acceptance starts, with a pending track review for each track.

    The open round is used (intake opened round 1 when it recorded the first sheets); after a
    concluded round the next one is opened.
    """
    latest = session.scalar(
        select(Round).where(Round.submission_id == submission.id).order_by(Round.number.desc()).limit(1)
    )
    if latest is None or latest.closed_at is not None:
        latest = Round(submission_id=submission.id, number=1 if latest is None else latest.number + 1)
        session.add(latest)
        session.flush()
    present = set(session.scalars(select(TrackReview.track_code).where(TrackReview.round_id == latest.id)))
    session.add_all(TrackReview(round_id=latest.id, track_code=code) for code in tracks if code not in present)
    session.flush()
    return latest


def return_submission(
    session: Session,
    actor: Principal,
    submission_id: int,
    reasons: Iterable[str],
    *,
    expected_version: int | None = None,
) -> Submission:
    """退回补正 with the reasons given (the missing items the clerk kept, and their own words)."""
    cleaned = tuple(text for text in (" ".join(reason.split()) for reason in reasons) if text)
    _submission(session, actor, submission_id)
    return submissions.return_submission(session, actor, submission_id, cleaned, expected_version=expected_version)


def start_review(session: Session, actor: Principal, submission_id: int, *, expected_version: int | None) -> Submission:
    """开始审查: the accepted submission goes to the reviewers, once the fee is paid or deferred; their clocks start."""
    _submission(session, actor, submission_id)
    fees.check_review_may_start(session, submission_id)
    submission = submissions.start_review(session, actor, submission_id, expected_version=expected_version)
    deadlines.start_clock(session, submission_id)
    # The round's track reviews are under way: reviewers may mark up and write comments from now on.
    latest = session.scalar(select(Round.id).where(Round.submission_id == submission_id).order_by(Round.number.desc()))
    for review in session.scalars(
        select(TrackReview).where(TrackReview.round_id == latest, TrackReview.state == TrackReviewState.PENDING)
    ):
        review.state = TrackReviewState.IN_REVIEW
        assign_track_reviewers(session, review)
    session.flush()
    return submission


def assign_track_reviewers(session: Session, review: TrackReview) -> None:
    """Give a track review the track's reviewers (the department's pool) unless someone is assigned already.

    Their home pages list the review from now on, and the result names them.
    """
    if review.reviewers:
        return
    pool = session.scalars(
        select(User.id)
        .join(RoleGrant, RoleGrant.user_id == User.id)
        .where(
            RoleGrant.role == Role.REVIEWER,
            RoleGrant.track_code == review.track_code,
            User.is_active.is_(True),
            User.deleted_at.is_(None),
        )
        .distinct()
    )
    review.reviewers = [TrackReviewer(user_id=user_id) for user_id in pool]
