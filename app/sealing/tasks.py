"""The worker job that composes the result of a passed submission (see :mod:`app.sealing.compose`)."""

from __future__ import annotations

from app.sealing.compose import COMPOSE_RESULT, compose_result
from app.tasks.runs import JobRun, job


@job(COMPOSE_RESULT)
def compose_result_job(run: JobRun, submission_id: int) -> str:
    """生成联审结果 / Compose the joint review result, ready for the departments' seals."""
    run.report(5, "正在生成联审结果 / composing the result")
    with run.transaction() as session:
        result = compose_result(session, run.platform.store, run.platform.settings, submission_id)
        run.complete(session, f"联审结果已生成 / result composed: {result.sha256[:12]}")
    return "composed"
