"""The schema holds the vocabulary on both databases, with its constraints."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.models import Organization, OrgKind, Project, Submission, SubmissionState


def test_project_and_submission_round_trip(session: Session) -> None:
    org = Organization(name="市建筑设计研究院", kind=OrgKind.DESIGN_INSTITUTE)
    session.add(org)
    session.flush()
    project = Project(code="P-2026-001", name="滨江小学新建工程", organization_id=org.id)
    project.submissions.append(Submission())
    session.add(project)
    session.commit()

    stored = session.scalars(select(Submission)).one()
    assert stored.state is SubmissionState.DRAFT
    assert stored.project.name == "滨江小学新建工程"
    assert stored.created_at.tzinfo is not None


def test_duplicate_organization_name_is_refused(session: Session) -> None:
    session.add(Organization(name="消防救援支队", kind=OrgKind.DEPARTMENT))
    session.flush()
    session.add(Organization(name="消防救援支队", kind=OrgKind.DEPARTMENT))
    with pytest.raises(IntegrityError):
        session.flush()
