"""Seal images: uploads are checked (PNG, transparency, size, bombs); the red round seal is generated."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.errors import Invalid
from app.sealing import seals
from storage.blobstore.local import LocalBlobStore
from storage.models import Organization, OrgKind, SealImage
from tests.app.sealing.conftest import ADMIN
from tests.support.pki import SigningPki


@pytest.fixture
def department(session: Session) -> Organization:
    organization = Organization(
        name="江城市人民防空办公室", kind=OrgKind.DEPARTMENT, department_code="civil_air_defence"
    )
    session.add(organization)
    session.flush()
    return organization


def _png(mode: str, size: tuple[int, int] = (200, 200)) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, (200, 0, 0, 0) if mode == "RGBA" else (200, 0, 0)).save(out, format="PNG")
    return out.getvalue()


def _declared_giant() -> bytes:
    """A tiny PNG whose header claims 100000 × 100000 pixels."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )


def test_an_uploaded_seal_becomes_active_and_is_kept(
    session: Session, store: LocalBlobStore, test_pki: SigningPki, department: Organization
) -> None:
    png = test_pki.seal("civil_defence")
    seal = seals.upload_seal(session, store, ADMIN, department.id, png=png, purpose="人防审查专用章")
    assert seals.active_seal(session, department.id) == seal
    assert seals.seal_png(store, seal) == png
    assert not seal.generated


def test_the_generated_seal_names_the_organisation_and_replaces_the_upload(
    session: Session, store: LocalBlobStore, test_pki: SigningPki, department: Organization
) -> None:
    uploaded = seals.upload_seal(session, store, ADMIN, department.id, png=test_pki.seal("civil_defence"), purpose="")
    generated = seals.generate_seal(session, store, ADMIN, department.id, purpose="")
    session.refresh(uploaded)
    assert not uploaded.active
    assert generated.active
    assert generated.generated
    assert generated.purpose == seals.DEFAULT_PURPOSE
    with Image.open(io.BytesIO(seals.seal_png(store, generated))) as image:
        assert image.mode == "RGBA"
        red, green, _, alpha = image.getpixel((image.width // 2, image.height // 2))  # the star's centre
        assert alpha > 200
        assert red > 150
        assert green < 80
    assert store.exists(uploaded.object_key)


@pytest.mark.parametrize(
    ("png", "zh"),
    [
        (b"GIF89a not a png", "PNG"),
        (_png("RGB"), "透明背景"),
        (_png("RGBA", (20, 20)), "像素"),
        (_declared_giant(), "过大"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 50, "损坏"),
        (b"", "请选择"),
    ],
    ids=["not-png", "no-alpha", "too-small", "declared-giant", "damaged", "empty"],
)
def test_bad_seal_images_are_refused_and_the_active_seal_stays(
    session: Session, store: LocalBlobStore, test_pki: SigningPki, department: Organization, png: bytes, zh: str
) -> None:
    good = seals.upload_seal(session, store, ADMIN, department.id, png=test_pki.seal("civil_defence"), purpose="")
    with pytest.raises(Invalid) as refused:
        seals.upload_seal(session, store, ADMIN, department.id, png=png, purpose="")
    assert zh in refused.value.zh
    assert refused.value.en
    assert seals.active_seal(session, department.id) == good
    assert session.scalar(select(func.count()).select_from(SealImage)) == 1


def test_a_long_purpose_text_is_refused(session: Session, store: LocalBlobStore, department: Organization) -> None:
    with pytest.raises(Invalid):
        seals.generate_seal(session, store, ADMIN, department.id, purpose="很" * 30)
