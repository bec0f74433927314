"""Seal images (印章图像): an organisation's uploaded PNG or the generated red round seal.

The image is only the appearance; what makes a seal is the signature made with the organisation's
identity. Every image is stored under its own key and kept; the newest active one is used.
"""

from __future__ import annotations

import hashlib
import io
import struct

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app import audit
from app.errors import Forbidden, Invalid, NotFound
from app.identity.principal import Principal
from app.sealing.identities import SEALING_KINDS
from signing.errors import SigningProblem
from signing.seal import PNG_SIGNATURE, SealImageLimits, SealSpec, accept_seal_png, draw_round_seal
from storage.blobstore.base import BlobStore
from storage.models import Organization, SealImage

DEFAULT_PURPOSE = "施工图审查专用章"
MAX_PURPOSE = 16
"""Characters of purpose text that still fit below the star."""
LIMITS = SealImageLimits()


def upload_seal(
    session: Session, store: BlobStore, actor: Principal | None, organization_id: int, *, png: bytes, purpose: str
) -> SealImage:
    """Check an uploaded PNG (real PNG, transparent background, size limits) and make it the active seal."""
    _require_admin(actor)
    organization = _organization(session, organization_id)
    purpose = _purpose(purpose)
    if not png:
        raise Invalid("请选择印章图片（PNG）", "Choose a seal image (PNG)")
    _check_declared_size(png)
    try:
        accept_seal_png(png, LIMITS)
    except SigningProblem as problem:
        raise Invalid(problem.zh, problem.en) from problem
    return _store(session, store, actor, organization, png, purpose=purpose, generated=False)


def generate_seal(
    session: Session, store: BlobStore, actor: Principal | None, organization_id: int, *, purpose: str
) -> SealImage:
    """Draw the standard red round seal with the organisation's name and ``purpose``; make it active."""
    _require_admin(actor)
    organization = _organization(session, organization_id)
    purpose = _purpose(purpose)
    png = draw_round_seal(SealSpec(organization.name, purpose, dpi=200))
    return _store(session, store, actor, organization, png, purpose=purpose, generated=True)


def active_seal(session: Session, organization_id: int) -> SealImage | None:
    return session.scalars(
        select(SealImage)
        .where(SealImage.organization_id == organization_id, SealImage.active.is_(True))
        .order_by(SealImage.id.desc())
        .limit(1)
    ).first()


def seal_png(store: BlobStore, seal: SealImage) -> bytes:
    with store.open(seal.object_key) as stream:
        return stream.read()


# Helpers ---------------------------------------------------------------------------------------


def _check_declared_size(png: bytes) -> None:
    """Refuse a PNG whose header declares a huge canvas before any decoder allocates it."""
    if png.startswith(PNG_SIGNATURE) and len(png) >= 24 and png[12:16] == b"IHDR":
        width, height = struct.unpack(">II", png[16:24])
        if max(width, height) > LIMITS.max_side:
            raise Invalid(
                f"印章图片尺寸 {width}×{height} 像素过大（上限 {LIMITS.max_side} 像素）",
                f"The seal image is {width}×{height} px, larger than {LIMITS.max_side} px",
            )


def _purpose(purpose: str) -> str:
    purpose = purpose.strip() or DEFAULT_PURPOSE
    if len(purpose) > MAX_PURPOSE:
        raise Invalid(f"印章用途文字最多 {MAX_PURPOSE} 个字", f"The purpose text is at most {MAX_PURPOSE} characters")
    return purpose


def _require_admin(actor: Principal | None) -> None:
    if actor is not None and not actor.is_admin:
        raise Forbidden("只有系统管理员可以管理印章", "only administrators manage seals")


def _organization(session: Session, organization_id: int) -> Organization:
    organization = session.get(Organization, organization_id)
    if organization is None:
        raise NotFound("没有该单位", "no such organisation")
    if organization.kind not in SEALING_KINDS:
        raise Invalid(f"{organization.name}不是签章单位", f"{organization.name} does not seal results")
    return organization


def _store(
    session: Session,
    store: BlobStore,
    actor: Principal | None,
    organization: Organization,
    png: bytes,
    *,
    purpose: str,
    generated: bool,
) -> SealImage:
    digest = hashlib.sha256(png).hexdigest()
    key = f"seals/{organization.id}/{digest}.png"
    store.put_stream(key, io.BytesIO(png), content_type="image/png", expected_size=len(png), expected_sha256=digest)
    session.execute(
        update(SealImage)
        .where(SealImage.organization_id == organization.id, SealImage.active.is_(True))
        .values(active=False)
        .execution_options(synchronize_session=False)
    )
    seal = SealImage(organization_id=organization.id, purpose=purpose, object_key=key, generated=generated, active=True)
    session.add(seal)
    session.flush()
    audit.record(
        session,
        actor_id=actor.user_id if actor else None,
        actor_name=actor.username if actor else "system",
        action="seal_image.generate" if generated else "seal_image.upload",
        object_type="seal_image",
        object_id=seal.id,
        summary=f"{organization.name} 印章图像（{purpose}）",
    )
    return seal
