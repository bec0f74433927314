"""Two writers on separate connections move the same submission: the stale one gets a Conflict.

Each test gets a database of its own, because the writers must really commit.
"""

from __future__ import annotations

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from app import audit, submissions
from app.errors import Conflict
from app.identity.principal import Principal
from storage.models import Organization, OrgKind, Project, Role, Submission, SubmissionState


@pytest.fixture
def case(own_engine: Engine) -> tuple[sessionmaker[Session], Principal, int]:
    factory = sessionmaker(own_engine, expire_on_commit=False)
    with factory() as s, s.begin():
        institute = Organization(name="市建筑设计研究院", kind=OrgKind.DESIGN_INSTITUTE)
        agency = Organization(name="施工图审查中心", kind=OrgKind.REVIEW_AGENCY)
        s.add_all([institute, agency])
        s.flush()
        project = Project(code="P-1", name="滨江小学", organization_id=institute.id)
        submission = Submission(state=SubmissionState.SUBMITTED)
        project.submissions.append(submission)
        s.add(project)
    clerk = Principal(2, "zhao", "赵受理", agency.id, agency.kind, agency.name, frozenset({(Role.INTAKE_CLERK, None)}))
    return factory, clerk, submission.id


def _state(factory: sessionmaker[Session], submission_id: int) -> tuple[SubmissionState, int, int, bool]:
    with factory() as s:
        submission = s.get(Submission, submission_id)
        assert submission is not None
        return submission.state, submission.version, audit.event_count(s), audit.verify(s).ok


@pytest.mark.parametrize("reader_still_open", [False, True], ids=["loaded-earlier", "loaded-in-open-transaction"])
def test_the_later_writer_of_a_stale_case_gets_a_conflict(
    case: tuple[sessionmaker[Session], Principal, int], reader_still_open: bool
) -> None:
    factory, clerk, submission_id = case
    with factory() as first, factory() as second:
        # Both clerks open the submitted case (version 1).
        assert first.get(Submission, submission_id) is not None
        # Held, so that the session's identity map keeps the version it loaded.
        stale = second.get(Submission, submission_id)
        assert stale is not None
        if not reader_still_open:
            second.commit()

        submissions.accept(first, clerk, submission_id)
        first.commit()

        # The second still holds version 1 in state "submitted": the workflow would let it
        # return the case; the version check at the write does not.
        with pytest.raises(Conflict) as caught:
            submissions.return_submission(second, clerk, submission_id, ["图纸不全"])
        second.rollback()
    assert "刷新" in caught.value.zh
    assert "reload" in caught.value.en
    assert _state(factory, submission_id) == (SubmissionState.ACCEPTED, 2, 1, True)
