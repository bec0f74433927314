"""The worker job that issues a permit (核发施工许可) on a valid verification (see :mod:`app.permits`)."""

from __future__ import annotations

from app.errors import NotFound
from app.identity import principal_for_user
from app.permits import ISSUE_PERMIT, issue_permit
from app.tasks.runs import JobRun, job


@job(ISSUE_PERMIT)
def issue_permit_job(run: JobRun, submission_id: int, verification_id: int, user_id: int) -> str:
    """核发施工许可证 / Compose, seal and record the permit for the officer who asked for it."""
    run.report(5, "正在生成并签发施工许可证 / composing and sealing the permit")
    with run.transaction() as session:
        who = principal_for_user(session, user_id)
        if who is None:
            raise NotFound("申请核发的用户已不存在", "The officer who asked for the permit no longer exists")
        permit = issue_permit(
            session, run.platform.store, run.platform.settings, who, submission_id, verification_id=verification_id
        )
        run.complete(session, f"施工许可证已核发 / permit issued: {permit.number}")
    return "issued"
