"""Database tables for Liantu's vocabulary (see DESIGN.md).

Identifiers are integers; timestamps are timezone-aware UTC. Enumerations are stored as their
string values so that the tables read well in SQL and survive renames in code.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    func,
    literal_column,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UtcDateTime(TypeDecorator[dt.datetime]):
    """A timestamp written in UTC whatever zone it comes in.

    SQLite keeps no zone: it stores the wall-clock digits it is given. Converting on the way in makes a
    value written as Beijing time read back as the same instant on both databases.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is not None and value.tzinfo is not None:
            return value.astimezone(dt.UTC)
        return value


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {  # noqa: RUF012 - SQLAlchemy reads this class attribute
        dt.datetime: UtcDateTime(),
        dict[str, Any]: JSON,
    }


def _enum(enum_class: type[StrEnum]) -> Enum:
    return Enum(
        enum_class,
        values_callable=lambda members: [member.value for member in members],
        native_enum=False,
        length=40,
        validate_strings=True,
    )


class OrgKind(StrEnum):
    DESIGN_INSTITUTE = "design_institute"  # 设计院
    REVIEW_AGENCY = "review_agency"  # 审查机构
    DEPARTMENT = "department"  # 主管部门（消防、人防、住建、气象…）
    BUREAU = "bureau"  # 住建局
    PLATFORM = "platform"  # 平台运维


class Role(StrEnum):
    ADMIN = "admin"  # 系统管理员
    DESIGNER = "designer"  # 设计人员
    INTAKE_CLERK = "intake_clerk"  # 受理窗口
    REVIEWER = "reviewer"  # 审查人员（按专项）
    TRACK_LEAD = "track_lead"  # 专项负责人
    DEPARTMENT_SIGNER = "department_signer"  # 部门签章人
    BUREAU_OFFICER = "bureau_officer"  # 住建局经办人


class SubmissionState(StrEnum):
    DRAFT = "draft"  # 草稿
    SUBMITTED = "submitted"  # 已提交
    RETURNED = "returned"  # 退回补正
    ACCEPTED = "accepted"  # 已受理
    IN_REVIEW = "in_review"  # 审查中
    REVISING = "revising"  # 修改中（设计院持有）
    PASSED = "passed"  # 各专项通过
    SEALING = "sealing"  # 签章中
    SEALED = "sealed"  # 已签章
    PERMITTED = "permitted"  # 已发证


class TrackReviewState(StrEnum):
    PENDING = "pending"  # 待审
    IN_REVIEW = "in_review"  # 审查中
    REVISE = "revise"  # 需修改
    PASSED = "passed"  # 通过


class TaskState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    RETRYING = "retrying"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Organization(Base):
    """An organisation: design institute, review agency, department or bureau."""

    __tablename__ = "organizations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[OrgKind] = mapped_column(_enum(OrgKind))
    department_code: Mapped[str | None] = mapped_column(String(40))
    """For departments: the track they are responsible for (fire, civil_air_defence, construction…)."""
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    users: Mapped[list[User]] = relationship(back_populates="organization")


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    display_name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str] = mapped_column(String(255))
    locale: Mapped[str | None] = mapped_column(String(10))
    email: Mapped[str | None] = mapped_column(String(254))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    deleted_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    organization: Mapped[Organization] = relationship(back_populates="users")
    roles: Mapped[list[RoleGrant]] = relationship(back_populates="user", cascade="all, delete-orphan")


class RoleGrant(Base):
    """A role held by a user; reviewer, track lead and signer roles name their track."""

    __tablename__ = "role_grants"
    __table_args__ = (UniqueConstraint("user_id", "role", "track_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[Role] = mapped_column(_enum(Role))
    track_code: Mapped[str | None] = mapped_column(ForeignKey("tracks.code"))

    user: Mapped[User] = relationship(back_populates="roles")


class ApiToken(Base):
    """A token for scripts; only its SHA-256 is kept."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[dt.datetime | None]
    revoked_at: Mapped[dt.datetime | None]


class LoginAttempt(Base):
    """Failed and successful logins, for the rate limit shared by all web processes."""

    __tablename__ = "login_attempts"
    __table_args__ = (
        Index("ix_login_attempts_username_at", "username", "at"),
        Index("ix_login_attempts_client_at", "client", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80))
    client: Mapped[str] = mapped_column(String(64))
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    succeeded: Mapped[bool] = mapped_column(Boolean)


class Track(Base):
    """A review discipline (专项): fire, civil air defence, construction drawing review, extras."""

    __tablename__ = "tracks"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    name_zh: Mapped[str] = mapped_column(String(80))
    name_en: Mapped[str] = mapped_column(String(80))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    sort_order: Mapped[int] = mapped_column(Integer, default=0)
    color: Mapped[str] = mapped_column(String(9), default="#d32f2f")


class Project(Base):
    """A construction project (建设项目)."""

    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(String(300), default="")
    building_use: Mapped[str] = mapped_column(String(80), default="")
    floors_above: Mapped[int] = mapped_column(Integer, default=0)
    floors_below: Mapped[int] = mapped_column(Integer, default=0)
    height_m: Mapped[float] = mapped_column(Float, default=0.0)
    gross_floor_area_m2: Mapped[float] = mapped_column(Float, default=0.0)
    fire_resistance_rating: Mapped[str] = mapped_column(String(20), default="")
    civil_air_defence_area_m2: Mapped[float] = mapped_column(Float, default=0.0)
    construction_unit: Mapped[str] = mapped_column(String(200), default="", server_default="")
    """建设单位: the owner who builds (and applies for the permit); '' on projects created before it was asked."""
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    submissions: Mapped[list[Submission]] = relationship(back_populates="project")


class Submission(Base):
    """One intake case (报审) of a project."""

    __tablename__ = "submissions"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    review_number: Mapped[str | None] = mapped_column(String(40), unique=True)
    state: Mapped[SubmissionState] = mapped_column(_enum(SubmissionState), default=SubmissionState.DRAFT)
    version: Mapped[int] = mapped_column(Integer, default=1)
    """Raised on every state change; a stale writer loses (optimistic concurrency)."""
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    project: Mapped[Project] = relationship(back_populates="submissions")
    rounds: Mapped[list[Round]] = relationship(back_populates="submission", order_by="Round.number")

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class Round(Base):
    """One review cycle (审查轮次) of a submission."""

    __tablename__ = "rounds"
    __table_args__ = (UniqueConstraint("submission_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    opened_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[dt.datetime | None]

    submission: Mapped[Submission] = relationship(back_populates="rounds")
    track_reviews: Mapped[list[TrackReview]] = relationship(back_populates="round")


class DrawingFile(Base):
    """One uploaded file, immutable, known by its SHA-256."""

    __tablename__ = "drawing_files"
    __table_args__ = (UniqueConstraint("submission_id", "sha256"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"), index=True)
    round_id: Mapped[int | None] = mapped_column(ForeignKey("rounds.id"))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(BigInteger)
    original_name: Mapped[str] = mapped_column(String(255))
    media_type: Mapped[str] = mapped_column(String(100))
    object_key: Mapped[str] = mapped_column(String(300))
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    uploaded_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    verified_at: Mapped[dt.datetime | None]
    """When a worker last re-read the stored object and found the same SHA-256."""
    status: Mapped[str] = mapped_column(String(40), default="stored")
    findings: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Sheet(Base):
    """A drawing sheet of a submission, known by its normalised sheet number."""

    __tablename__ = "sheets"
    __table_args__ = (UniqueConstraint("submission_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"), index=True)
    number: Mapped[str] = mapped_column(String(40))
    """Normalised sheet number, e.g. 建施-01, A-101."""
    title: Mapped[str] = mapped_column(String(200), default="")
    discipline: Mapped[str] = mapped_column(String(40), default="")

    revisions: Mapped[list[SheetRevision]] = relationship(back_populates="sheet")
    tracks: Mapped[list[SheetTrack]] = relationship(back_populates="sheet", cascade="all, delete-orphan")


class SheetTrack(Base):
    """A sheet belongs to one or more review tracks; the clerk may override the rules."""

    __tablename__ = "sheet_tracks"

    sheet_id: Mapped[int] = mapped_column(ForeignKey("sheets.id", ondelete="CASCADE"), primary_key=True)
    track_code: Mapped[str] = mapped_column(ForeignKey("tracks.code"), primary_key=True)
    overridden: Mapped[bool] = mapped_column(Boolean, default=False)

    sheet: Mapped[Sheet] = relationship(back_populates="tracks")


class SheetRevision(Base):
    """A sheet as it stands in one round: a page or layout of a drawing file and its renderings."""

    __tablename__ = "sheet_revisions"
    __table_args__ = (UniqueConstraint("sheet_id", "round_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    sheet_id: Mapped[int] = mapped_column(ForeignKey("sheets.id"), index=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id"), index=True)
    drawing_file_id: Mapped[int] = mapped_column(ForeignKey("drawing_files.id"))
    source_index: Mapped[int] = mapped_column(Integer, default=0)
    """Page number (PDF) or layout order (DXF), from 0."""
    layout_name: Mapped[str] = mapped_column(String(120), default="")
    width_pt: Mapped[float] = mapped_column(Float, default=0.0)
    height_pt: Mapped[float] = mapped_column(Float, default=0.0)
    scale: Mapped[str] = mapped_column(String(40), default="")
    pdf_key: Mapped[str | None] = mapped_column(String(300))
    tiles_key: Mapped[str | None] = mapped_column(String(300))
    thumbnail_key: Mapped[str | None] = mapped_column(String(300))
    paper: Mapped[str] = mapped_column(String(40), default="")
    """Nearest paper size name (A0, A1+1/4, ARCH D…)."""
    title_block: Mapped[dict[str, Any]] = mapped_column(default=dict)
    """What the title block said: number as written, title, scale, institute, date, confidence."""
    findings: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    """Problems found while reading, rendering or identifying this sheet, with codes."""
    status: Mapped[str] = mapped_column(String(40), default="pending")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    units_per_point: Mapped[float | None] = mapped_column(Float)
    """Drawing units (usually mm) per sheet point, for the measuring tool; None when not known."""
    units: Mapped[str] = mapped_column(String(10), default="")

    sheet: Mapped[Sheet] = relationship(back_populates="revisions")


class SheetText(Base):
    """The drawing text of a sheet revision, for search within a submission."""

    __tablename__ = "sheet_texts"

    sheet_revision_id: Mapped[int] = mapped_column(
        ForeignKey("sheet_revisions.id", ondelete="CASCADE"), primary_key=True
    )
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"), index=True)
    text: Mapped[str] = mapped_column(Text, default="")


class TrackReview(Base):
    """One track in one round: reviewers, deadline and conclusion."""

    __tablename__ = "track_reviews"
    __table_args__ = (UniqueConstraint("round_id", "track_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id"), index=True)
    track_code: Mapped[str] = mapped_column(ForeignKey("tracks.code"))
    state: Mapped[TrackReviewState] = mapped_column(_enum(TrackReviewState), default=TrackReviewState.PENDING)
    due_at: Mapped[dt.datetime | None]
    concluded_at: Mapped[dt.datetime | None]
    concluded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    started_at: Mapped[dt.datetime | None]
    """When the review clock of this track and round started."""
    comments_issued_at: Mapped[dt.datetime | None]
    """When the track issued its comments of this round to the designer."""
    conclusion_note: Mapped[str] = mapped_column(Text, default="")

    round: Mapped[Round] = relationship(back_populates="track_reviews")
    reviewers: Mapped[list[TrackReviewer]] = relationship(cascade="all, delete-orphan")


class TrackReviewer(Base):
    __tablename__ = "track_reviewers"

    track_review_id: Mapped[int] = mapped_column(ForeignKey("track_reviews.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)


class AuditEvent(Base):
    """An append-only record of a state change; each row carries the hash of the one before."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(Integer)
    actor_name: Mapped[str] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(80), index=True)
    object_type: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[str] = mapped_column(String(64))
    summary: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class AuditHead(Base):
    """One row holding the newest audit hash; updating it serialises writers of the chain."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(primary_key=True)
    last_id: Mapped[int] = mapped_column(Integer, default=0)
    last_hash: Mapped[str] = mapped_column(String(64))


class TaskRun(Base):
    """A background job as the pages see it: state, progress and the last message."""

    __tablename__ = "task_runs"
    __table_args__ = (Index("ix_task_runs_object", "object_type", "object_id"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    arguments: Mapped[dict[str, Any]] = mapped_column(default=dict)
    object_type: Mapped[str] = mapped_column(String(40), default="")
    object_id: Mapped[str] = mapped_column(String(64), default="")
    state: Mapped[TaskState] = mapped_column(_enum(TaskState), default=TaskState.QUEUED)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    message: Mapped[str] = mapped_column(Text, default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    started_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]


class UploadState(StrEnum):
    OPEN = "open"
    COMPLETED = "completed"
    ABORTED = "aborted"


class UploadSession(Base):
    """A resumable upload: the file arrives in numbered chunks, then becomes one original."""

    __tablename__ = "upload_sessions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    file_name: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    """Declared total size in bytes."""
    chunk_size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str | None] = mapped_column(String(64))
    """SHA-256 the client computed, if it sent one; checked when the chunks are joined."""
    state: Mapped[UploadState] = mapped_column(_enum(UploadState), default=UploadState.OPEN)
    drawing_file_id: Mapped[int | None] = mapped_column(ForeignKey("drawing_files.id"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime]

    chunks: Mapped[list[UploadChunk]] = relationship(cascade="all, delete-orphan", order_by="UploadChunk.index")


class UploadChunk(Base):
    """One received chunk of an upload, kept as a derived object until the upload completes."""

    __tablename__ = "upload_chunks"

    upload_id: Mapped[str] = mapped_column(ForeignKey("upload_sessions.id", ondelete="CASCADE"), primary_key=True)
    index: Mapped[int] = mapped_column(Integer, primary_key=True)
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    object_key: Mapped[str] = mapped_column(String(300))


# --- Online review (联合图审): markups, comments, letters, revision compare -------------------------------


class Markup(Base):
    """A shape drawn on a sheet revision (审查批注); ``version`` is its ETag."""

    __tablename__ = "markups"

    id: Mapped[int] = mapped_column(primary_key=True)
    sheet_revision_id: Mapped[int] = mapped_column(ForeignKey("sheet_revisions.id"), index=True)
    track_code: Mapped[str] = mapped_column(ForeignKey("tracks.code"))
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    comment_id: Mapped[int | None] = mapped_column(ForeignKey("comments.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    shape: Mapped[dict[str, Any]] = mapped_column(default=dict)
    """The markup value (points, text, box, colour, stroke, opacity, cloud arc) in sheet coordinates."""
    carried_from_id: Mapped[int | None] = mapped_column(ForeignKey("markups.id"))
    """The markup of the previous round this one was carried over from."""
    region_changed: Mapped[bool] = mapped_column(Boolean, default=False)
    """Carried over onto a region the revision changed (区域已修改)."""
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    deleted_at: Mapped[dt.datetime | None]

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class Comment(Base):
    """A review comment (审查意见) of one track in one round, on a sheet or on the whole submission."""

    __tablename__ = "comments"
    __table_args__ = (Index("ix_comments_round_track", "round_id", "track_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"), index=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id"))
    track_code: Mapped[str] = mapped_column(ForeignKey("tracks.code"))
    sheet_id: Mapped[int | None] = mapped_column(ForeignKey("sheets.id"), index=True)
    sheet_revision_id: Mapped[int | None] = mapped_column(ForeignKey("sheet_revisions.id"))
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    severity: Mapped[str] = mapped_column(String(20))
    """mandatory (强制性条文), general (一般) or suggestion (建议)."""
    text: Mapped[str] = mapped_column(Text)
    clause_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(20), default="open")
    issued_at: Mapped[dt.datetime | None]
    """When the track issued it to the designer; designers see only issued comments."""
    carried_from_id: Mapped[int | None] = mapped_column(ForeignKey("comments.id"))
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    entries: Mapped[list[CommentEntry]] = relationship(
        cascade="all, delete-orphan", order_by="CommentEntry.id", back_populates="comment"
    )

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class CommentEntry(Base):
    """One step of a comment's thread (意见往来): an answer, reply, resolution, reopening or withdrawal."""

    __tablename__ = "comment_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    comment_id: Mapped[int] = mapped_column(ForeignKey("comments.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    role: Mapped[str] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(20))
    text: Mapped[str] = mapped_column(Text, default="")
    attachment_key: Mapped[str | None] = mapped_column(String(300))
    attachment_name: Mapped[str | None] = mapped_column(String(255))
    attachment_sha256: Mapped[str | None] = mapped_column(String(64))
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    comment: Mapped[Comment] = relationship(back_populates="entries")


class CommentTemplate(Base):
    """A reviewer's frequent comment text (常用意见库)."""

    __tablename__ = "comment_templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    track_code: Mapped[str | None] = mapped_column(ForeignKey("tracks.code"))
    severity: Mapped[str] = mapped_column(String(20), default="general")
    text: Mapped[str] = mapped_column(Text)
    clause_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    use_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class OpinionLetter(Base):
    """An opinion letter (审查意见书) issued for a round: one per track, and one combining all (track NULL)."""

    __tablename__ = "opinion_letters"
    __table_args__ = (
        # One letter per track and one joint letter (track NULL) per round: NULLs are distinct in a
        # plain unique constraint, so the index folds NULL into ''.
        Index(
            "uq_opinion_letters_round_track", "round_id", func.coalesce(literal_column("track_code"), ""), unique=True
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id"), index=True)
    track_code: Mapped[str | None] = mapped_column(ForeignKey("tracks.code"))
    object_key: Mapped[str] = mapped_column(String(300))
    sha256: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    issued_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class RevisionComparison(Base):
    """What changed between a sheet's revision and the one before it."""

    __tablename__ = "revision_comparisons"

    sheet_revision_id: Mapped[int] = mapped_column(
        ForeignKey("sheet_revisions.id", ondelete="CASCADE"), primary_key=True
    )
    previous_revision_id: Mapped[int] = mapped_column(ForeignKey("sheet_revisions.id"))
    matched_by: Mapped[str] = mapped_column(String(20), default="number")
    """number (same normalised sheet number), content (similar drawing) or clerk."""
    method: Mapped[str] = mapped_column(String(20), default="")
    """entities (DXF entity diff) or raster (PDF page diff)."""
    regions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    """Changed rectangles in sheet coordinates of the new revision, with what changed."""
    overlay_key: Mapped[str | None] = mapped_column(String(300))
    computed_at: Mapped[dt.datetime | None]
    findings: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)


# --- Electronic seals (电子签章), the result, permits ---------------------------------------------------------


class SigningIdentity(Base):
    """An organisation's signing certificate and where its key is held."""

    __tablename__ = "signing_identities"

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    """pkcs12 (encrypted at rest with the key from settings) or pkcs11 (token)."""
    certificate_pem: Mapped[str] = mapped_column(Text)
    subject: Mapped[str] = mapped_column(String(500), default="")
    fingerprint_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    not_before: Mapped[dt.datetime | None]
    not_after: Mapped[dt.datetime | None]
    pkcs12_sealed: Mapped[str | None] = mapped_column(Text)
    """The PKCS#12 file and its password, encrypted with the settings key (base64)."""
    token_label: Mapped[str | None] = mapped_column(String(120))
    key_label: Mapped[str | None] = mapped_column(String(120))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class SealImage(Base):
    """An organisation's seal appearance: an uploaded PNG or the generated red round seal."""

    __tablename__ = "seal_images"

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(80), default="施工图审查专用章")
    object_key: Mapped[str] = mapped_column(String(300))
    generated: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ReviewResult(Base):
    """The one result PDF (施工图联合审查合格书) of a submission, as it grows signature by signature."""

    __tablename__ = "review_results"

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"), unique=True)
    state: Mapped[str] = mapped_column(String(20), default="signing")
    """signing (fields waiting), sealed (every signature and the document timestamp), failed."""
    object_key: Mapped[str] = mapped_column(String(300))
    """The newest revision of the file; earlier ones are kept under their own keys."""
    sha256: Mapped[str] = mapped_column(String(64))
    signing_order: Mapped[list[str]] = mapped_column(JSON, default=list)
    """Organisation department codes (or ids) in the order they sign."""
    manifest: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    """Every approved sheet with the SHA-256 of its original and of its sheet PDF."""
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    sealed_at: Mapped[dt.datetime | None]

    signatures: Mapped[list[ResultSignature]] = relationship(order_by="ResultSignature.position")

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class ResultSignature(Base):
    """One signature field of the result and who filled it."""

    __tablename__ = "result_signatures"
    __table_args__ = (UniqueConstraint("result_id", "position"), UniqueConstraint("result_id", "field_name"))

    id: Mapped[int] = mapped_column(primary_key=True)
    result_id: Mapped[int] = mapped_column(ForeignKey("review_results.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    field_name: Mapped[str] = mapped_column(String(80))
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    signer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    signed_at: Mapped[dt.datetime | None]
    timestamp_at: Mapped[dt.datetime | None]
    object_key: Mapped[str | None] = mapped_column(String(300))
    """The file as it stood right after this signature."""
    sha256: Mapped[str | None] = mapped_column(String(64))


class Verification(Base):
    """A verification of a result or permit file, by the bureau or on the public page."""

    __tablename__ = "verifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    result_id: Mapped[int | None] = mapped_column(ForeignKey("review_results.id"))
    verdict: Mapped[str] = mapped_column(String(20))
    """valid, invalid or unknown."""
    report: Mapped[dict[str, Any]] = mapped_column(default=dict)
    verified_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    public: Mapped[bool] = mapped_column(Boolean, default=False)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Permit(Base):
    """A construction permit (施工许可证) issued on a verified result."""

    __tablename__ = "permits"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(40), unique=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"), unique=True)
    result_id: Mapped[int] = mapped_column(ForeignKey("review_results.id"))
    verification_id: Mapped[int] = mapped_column(ForeignKey("verifications.id"))
    object_key: Mapped[str] = mapped_column(String(300))
    sha256: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    issued_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))


class Licence(Base):
    """An entry of the e-licence library (电子证照库), searchable by project code."""

    __tablename__ = "licences"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    """construction_permit, review_result…"""
    number: Mapped[str] = mapped_column(String(40), unique=True)
    project_code: Mapped[str] = mapped_column(String(64), index=True)
    project_name: Mapped[str] = mapped_column(String(200))
    holder: Mapped[str] = mapped_column(String(200))
    permit_id: Mapped[int | None] = mapped_column(ForeignKey("permits.id"))
    result_id: Mapped[int | None] = mapped_column(ForeignKey("review_results.id"))
    object_key: Mapped[str] = mapped_column(String(300))
    sha256: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[dt.datetime | None]


# --- Supervision (电子监察): clock pauses, fees, notifications ----------------------------------------------


class ClockPause(Base):
    """A span in which the review clock of a submission stands still (the designer holds it)."""

    __tablename__ = "clock_pauses"

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"), index=True)
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[dt.datetime | None]
    reason: Mapped[str] = mapped_column(String(40))
    """revising (修改中), returned (退回补正), unpaid (待缴费)…"""


class FeeInvoice(Base):
    """A review fee invoice of a submission, amounts in fen.

    The initial invoice is issued when the submission is first accepted with a charged track; a later
    round that brings tracks no earlier invoice covers gets a supplementary one (补充收费).
    """

    __tablename__ = "fee_invoices"

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"), index=True)
    round_id: Mapped[int | None] = mapped_column(ForeignKey("rounds.id"), index=True)
    """The round at whose acceptance the invoice was issued."""
    kind: Mapped[str] = mapped_column(String(20), default="initial", server_default="initial")
    """initial, or supplementary (补充收费) for tracks a later round added."""
    number: Mapped[str] = mapped_column(String(40), unique=True)
    total_fen: Mapped[int] = mapped_column(BigInteger)
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    state: Mapped[str] = mapped_column(String(20), default="unpaid")
    """unpaid, paid, deferred (缓缴, recorded by the clerk) or cancelled."""
    paid_at: Mapped[dt.datetime | None]
    paid_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    payment_method: Mapped[str | None] = mapped_column(String(20))
    """gateway or bank_transfer."""
    transaction_id: Mapped[str | None] = mapped_column(String(80), unique=True)
    confirmed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    deferred_reason: Mapped[str | None] = mapped_column(Text)
    receipt_key: Mapped[str | None] = mapped_column(String(300))
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class PaymentEvent(Base):
    """Every payment callback or confirmation received, accepted or not."""

    __tablename__ = "payment_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("fee_invoices.id"), index=True)
    source: Mapped[str] = mapped_column(String(20))
    """gateway or bank_transfer."""
    transaction_id: Mapped[str] = mapped_column(String(80), default="")
    amount_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    decision: Mapped[str] = mapped_column(String(40))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class PaymentNonce(Base):
    """Nonces of accepted payment callbacks, kept until they expire so that replays are refused."""

    __tablename__ = "payment_nonces"

    nonce: Mapped[str] = mapped_column(String(80), primary_key=True)
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)


class Notification(Base):
    """A message in a user's inbox (消息); ``dedupe_key`` keeps reminders from being sent twice."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_user_read", "user_id", "read_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))
    subject_zh: Mapped[str] = mapped_column(String(200))
    subject_en: Mapped[str] = mapped_column(String(200))
    body_zh: Mapped[str] = mapped_column(Text, default="")
    body_en: Mapped[str] = mapped_column(Text, default="")
    link: Mapped[str] = mapped_column(String(300), default="")
    submission_id: Mapped[int | None] = mapped_column(ForeignKey("submissions.id"))
    dedupe_key: Mapped[str | None] = mapped_column(String(160), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    read_at: Mapped[dt.datetime | None]


class OutboxMail(Base):
    """An e-mail waiting to be sent, sent, or bounced (发件箱)."""

    __tablename__ = "outbox_mails"

    id: Mapped[int] = mapped_column(primary_key=True)
    notification_id: Mapped[int | None] = mapped_column(ForeignKey("notifications.id", ondelete="SET NULL"))
    to_address: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(20), default="queued")
    """queued, sent, bounced or failed."""
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[dt.datetime | None]
