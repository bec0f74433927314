"""construction unit of a project; one opinion letter per track and one joint letter per round

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 23:24:04.064501

The unique index on opinion letters folds a NULL track (the joint letter) into '' because a plain
unique constraint treats NULLs as distinct and so let a round have two joint letters. Alembic cannot
compare expression indexes on SQLite, so this part is written by hand.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LETTER_INDEX = "uq_opinion_letters_round_track"


def upgrade() -> None:
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.add_column(sa.Column("construction_unit", sa.String(length=200), server_default="", nullable=False))

    # A second joint letter of a round could only come from two deliveries racing; keep the first issued.
    op.execute(
        "DELETE FROM opinion_letters WHERE track_code IS NULL AND id > ("
        "SELECT MIN(kept.id) FROM opinion_letters AS kept "
        "WHERE kept.round_id = opinion_letters.round_id AND kept.track_code IS NULL)"
    )
    with op.batch_alter_table("opinion_letters", schema=None) as batch_op:
        batch_op.drop_constraint("uq_opinion_letters_round_id_track_code", type_="unique")
    # Created after the batch: SQLite's batch mode copies the table and would lose an index it cannot reflect.
    op.create_index(LETTER_INDEX, "opinion_letters", ["round_id", sa.text("coalesce(track_code, '')")], unique=True)


def downgrade() -> None:
    op.drop_index(LETTER_INDEX, table_name="opinion_letters")
    with op.batch_alter_table("opinion_letters", schema=None) as batch_op:
        batch_op.create_unique_constraint("uq_opinion_letters_round_id_track_code", ["round_id", "track_code"])

    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.drop_column("construction_unit")
