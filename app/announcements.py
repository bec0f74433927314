"""Messages that follow workflow steps: who is told what when a submission moves.

Called by :func:`app.submissions.apply` in the same transaction as the step. Steps whose messages need
more than the step itself (comments issued, a result ready to sign, a permit) are announced by the use
cases that make them.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.notifications import Message, NotificationKind, notify
from review.workflow import Acceptance, Event, ReturnReasons, Step
from storage.models import Role, RoleGrant, Submission, User


def project_designers(session: Session, submission: Submission) -> list[int]:
    """The designers of the institute that owns the submission's project."""
    return list(
        session.scalars(
            select(User.id)
            .join(RoleGrant, RoleGrant.user_id == User.id)
            .where(User.organization_id == submission.project.organization_id, RoleGrant.role == Role.DESIGNER)
        )
    )


def announce(session: Session, submission: Submission, event: Event, step: Step) -> None:
    """Tell the people a step concerns; a step nobody waits on is not announced."""
    project = submission.project
    label = submission.review_number or f"#{submission.id}"
    link = f"/submissions/{submission.id}/progress"
    if event is Event.ACCEPT:
        detail = step.detail
        tolerated = isinstance(detail, Acceptance) and detail.deficiency_tolerated
        message = Message(
            kind=NotificationKind.SUBMISSION_ACCEPTED,
            subject_zh=f"报审已受理：{project.name}（{label}）",
            subject_en=f"Submission accepted: {project.name} ({label})",
            body_zh="容缺受理：请按承诺补交所缺材料。" if tolerated else "已受理，等待开始审查。",
            body_en=(
                "Accepted on your commitment: hand in the missing items as promised."
                if tolerated
                else "Accepted; the review starts next."
            ),
            link=link,
            submission_id=submission.id,
        )
    elif event is Event.RETURN:
        reasons = step.detail.reasons if isinstance(step.detail, ReturnReasons) else ()
        listed = "\n".join(f"{n}. {reason}" for n, reason in enumerate(reasons, 1))
        message = Message(
            kind=NotificationKind.SUBMISSION_RETURNED,
            subject_zh=f"报审被退回补正：{project.name}（{label}）",
            subject_en=f"Submission returned for correction: {project.name} ({label})",
            body_zh=f"退回理由：\n{listed}",
            body_en=f"Reasons given by the intake desk:\n{listed}",
            link=f"/submissions/{submission.id}",
            submission_id=submission.id,
        )
    else:
        return
    notify(session, project_designers(session, submission), message)
