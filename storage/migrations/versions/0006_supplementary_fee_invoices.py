"""several fee invoices per submission: a supplementary invoice (补充收费) per later round

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 00:07:15.358661

An invoice now records the round at whose acceptance it was issued and its
kind, initial or supplementary. Existing invoices are all initial; each is given the latest round of
its submission opened before it was issued (else the first round).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("fee_invoices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("round_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("kind", sa.String(length=20), server_default="initial", nullable=False))
        batch_op.drop_constraint("uq_fee_invoices_submission_id", type_="unique")
        batch_op.create_index(batch_op.f("ix_fee_invoices_submission_id"), ["submission_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_fee_invoices_round_id"), ["round_id"], unique=False)
        batch_op.create_foreign_key(batch_op.f("fk_fee_invoices_round_id_rounds"), "rounds", ["round_id"], ["id"])

    op.execute(
        "UPDATE fee_invoices SET round_id = COALESCE("
        "(SELECT r.id FROM rounds AS r WHERE r.submission_id = fee_invoices.submission_id"
        " AND r.opened_at <= fee_invoices.created_at ORDER BY r.number DESC LIMIT 1),"
        "(SELECT r.id FROM rounds AS r WHERE r.submission_id = fee_invoices.submission_id"
        " ORDER BY r.number LIMIT 1))"
    )


def downgrade() -> None:
    # Supplementary invoices cannot be kept under one invoice per submission: the downgrade refuses
    # to run while there are any rather than drop what designers were charged.
    bind = op.get_bind()
    if bind.execute(sa.text("SELECT COUNT(*) FROM fee_invoices WHERE kind <> 'initial'")).scalar():
        raise RuntimeError("supplementary fee invoices exist: the schema before 0006 cannot hold them")
    with op.batch_alter_table("fee_invoices", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_fee_invoices_round_id_rounds"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_fee_invoices_round_id"))
        batch_op.drop_index(batch_op.f("ix_fee_invoices_submission_id"))
        batch_op.create_unique_constraint("uq_fee_invoices_submission_id", ["submission_id"])
        batch_op.drop_column("kind")
        batch_op.drop_column("round_id")
