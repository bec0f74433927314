"""On both databases: the e-licence library's search (part of a project code, case-insensitive, wildcards
literal) and permit numbering."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.orm import Session

from app.errors import Forbidden
from app.identity.principal import Principal
from app.permits import next_permit_number, search_licences
from storage.models import (
    Licence,
    Organization,
    OrgKind,
    Permit,
    Project,
    ReviewResult,
    Role,
    Submission,
    User,
    Verification,
)


def _officer(role: Role = Role.BUREAU_OFFICER) -> Principal:
    return Principal(1, "bureau", "林晓", 1, OrgKind.BUREAU, "江城市住房和城乡建设局", frozenset({(role, None)}))


def test_search_by_part_of_the_code(session: Session) -> None:
    base = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    for index, code in enumerate(["2026-420100-47-01-000321", "2026-420100-47-01-000322", "JC_2026%X", "jc-2026-9"]):
        session.add(
            Licence(
                kind="construction_permit",
                number=f"SGXK-2026-{index + 1:05d}",
                project_code=code,
                project_name=f"项目 {index}",
                holder="江城市建筑设计研究院",
                object_key=f"permits/{index}.pdf",
                sha256="0" * 64,
                issued_at=base + dt.timedelta(days=index),
            )
        )
    session.flush()
    who = _officer()
    assert [e.project_code for e in search_licences(session, who, "000321")] == ["2026-420100-47-01-000321"]
    assert len(search_licences(session, who, "420100")) == 2
    # Newest first; an empty code lists everything.
    assert [e.number for e in search_licences(session, who, "")][:2] == ["SGXK-2026-00004", "SGXK-2026-00003"]
    # "_" and "%" are the characters themselves, not wildcards; the case does not matter.
    assert [e.project_code for e in search_licences(session, who, "jc_2026%")] == ["JC_2026%X"]
    assert search_licences(session, who, "2026_420100") == []
    assert search_licences(session, who, "  000322  ")[0].project_code.endswith("000322")


def test_only_bureau_officers_search(session: Session) -> None:
    with pytest.raises(Forbidden) as refused:
        search_licences(session, _officer(Role.DESIGNER), "")
    assert refused.value.zh
    assert refused.value.en


def test_permit_numbers_continue_from_the_highest_of_the_year(session: Session) -> None:
    org = Organization(name="江城市建筑设计研究院", kind=OrgKind.DESIGN_INSTITUTE)
    session.add(org)
    session.flush()
    user = User(organization_id=org.id, username="officer", display_name="林晓", password_hash="x")
    project = Project(organization_id=org.id, code="P-1", name="项目")
    session.add_all([user, project])
    session.flush()
    for index, number in enumerate(["SGXK-2026-00009", "SGXK-2026-00010", "SGXK-2025-00042"]):
        submission = Submission(project_id=project.id, review_number=f"LT-{index}")
        session.add(submission)
        session.flush()
        result = ReviewResult(submission_id=submission.id, object_key="r.pdf", sha256="0" * 64)
        session.add(result)
        session.flush()
        verification = Verification(sha256="0" * 64, result_id=result.id, verdict="valid")
        session.add(verification)
        session.flush()
        session.add(
            Permit(
                number=number,
                submission_id=submission.id,
                result_id=result.id,
                verification_id=verification.id,
                object_key="p.pdf",
                sha256="0" * 64,
                issued_by_id=user.id,
            )
        )
    session.flush()
    # Ten sorts after nine as text too: the sequence is zero-padded.
    assert next_permit_number(session, dt.datetime(2026, 3, 1, tzinfo=dt.UTC)) == "SGXK-2026-00011"
    assert next_permit_number(session, dt.datetime(2025, 3, 1, tzinfo=dt.UTC)) == "SGXK-2025-00043"
    assert next_permit_number(session, dt.datetime(2027, 3, 1, tzinfo=dt.UTC)) == "SGXK-2027-00001"
