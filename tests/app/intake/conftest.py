"""Fixtures shared by the intake tests: a local object store and a draft submission."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from app.identity.accounts import create_organization
from app.tracks import ensure_tracks
from storage.blobstore import LocalBlobStore
from storage.models import OrgKind, Project, Submission


@pytest.fixture
def store(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "objects")


@pytest.fixture
def submission_id(session_factory: sessionmaker[Session]) -> int:
    with session_factory() as session, session.begin():
        ensure_tracks(session)
        institute = create_organization(session, "联图测试设计院", OrgKind.DESIGN_INSTITUTE)
        project = Project(organization_id=institute.id, code="JC-2026-0101", name="滨江小学")
        session.add(project)
        session.flush()
        submission = Submission(project_id=project.id)
        session.add(submission)
        session.flush()
        return submission.id
