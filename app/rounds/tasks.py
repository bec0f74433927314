"""The rounds jobs: ``round.letters`` builds a round's opinion letters, ``sheet_revision.compare`` compares a
resubmitted sheet with its previous revision and carries the open comments over.

Both are thin and idempotent: their effect is written in one transaction with the run's completion, and a
second delivery finds the work done (letters by round and track, comparisons by revision).
"""

from __future__ import annotations

from app.intake.tasks import limit_memory
from app.rounds.compare import COMPARE_REVISION, compare_revision
from app.rounds.conclude import BUILD_LETTERS
from app.rounds.letters import build_round_letters
from app.tasks.runs import JobRun, job


@job(BUILD_LETTERS)
def build_letters_job(run: JobRun, round_id: int) -> str:
    """出具审查意见书 / Build the opinion letters of a round."""
    limit_memory()
    return build_round_letters(run.platform.sessions, run.platform.store, round_id, finish=run.complete)


@job(COMPARE_REVISION)
def compare_revision_job(run: JobRun, sheet_revision_id: int) -> str:
    """修改对比 / Compare a resubmitted sheet with its previous revision and carry its open comments over."""
    limit_memory()
    return compare_revision(run.platform.sessions, run.platform.store, sheet_revision_id, finish=run.complete)
