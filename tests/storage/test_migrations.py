"""The migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

import warnings

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError

from storage.migrate import current_revision
from storage.models import Base

LETTER_INDEX = "uq_opinion_letters_round_track"


def test_migrated_schema_matches_the_models(engine: Engine) -> None:
    with engine.connect() as connection, warnings.catch_warnings():
        if engine.dialect.name == "sqlite":
            # SQLite cannot reflect expression indexes, so neither side compares this one; the
            # tests below check it directly.
            warnings.filterwarnings("ignore", f".*expression-based index '?{LETTER_INDEX}'?")
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_the_letter_index_is_the_one_the_models_describe(engine: Engine) -> None:
    if engine.dialect.name == "sqlite":
        query = "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = :name"
    else:
        query = "SELECT indexdef FROM pg_indexes WHERE indexname = :name"
    with engine.connect() as connection:
        definition = connection.execute(text(query), {"name": LETTER_INDEX}).scalar_one()
    flat = " ".join(definition.lower().replace('"', "").split())
    assert "unique index" in flat
    assert "(round_id, coalesce(track_code, ''" in flat


def test_a_round_has_one_letter_per_track_and_one_joint_letter(own_engine: Engine) -> None:
    def letter(round_id: int, track_code: str | None) -> None:
        with own_engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO opinion_letters (round_id, track_code, object_key, sha256, issued_at)"
                    " VALUES (:round_id, :track, 'k', 'h', CURRENT_TIMESTAMP)"
                ),
                {"round_id": round_id, "track": track_code},
            )

    with own_engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO organizations (id, name, kind, created_at) VALUES (1, 'o', 'design_institute', CURRENT_TIMESTAMP)"
            )
        )
        connection.execute(
            text(
                "INSERT INTO projects (id, organization_id, code, name, address, building_use, floors_above, floors_below, height_m, gross_floor_area_m2, fire_resistance_rating, civil_air_defence_area_m2, created_at) VALUES (1, 1, 'c', 'n', '', '', 1, 0, 1, 1, '', 0, CURRENT_TIMESTAMP)"
            )
        )
        connection.execute(
            text(
                "INSERT INTO submissions (id, project_id, state, version, created_at, updated_at) VALUES (1, 1, 'draft', 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )
        connection.execute(
            text(
                "INSERT INTO rounds (id, submission_id, number, opened_at) VALUES (1, 1, 1, CURRENT_TIMESTAMP), (2, 1, 2, CURRENT_TIMESTAMP)"
            )
        )
        connection.execute(
            text(
                "INSERT INTO tracks (code, name_zh, name_en, enabled, sort_order, color)"
                " VALUES ('t_one', '一', 'one', true, 0, '#000000'), ('t_two', '二', 'two', true, 0, '#000000')"
            )
        )
    first, second = "t_one", "t_two"

    letter(1, None)
    letter(1, first)
    letter(1, second)
    letter(2, None)
    letter(2, first)
    for round_id, track_code in ((1, None), (1, first), (2, None)):
        with pytest.raises(IntegrityError):
            letter(round_id, track_code)
    with own_engine.connect() as connection:
        assert connection.execute(text("SELECT COUNT(*) FROM opinion_letters")).scalar_one() == 5


def test_migrations_reach_the_newest_revision(engine: Engine) -> None:
    from alembic.script import ScriptDirectory

    from storage.migrate import MIGRATIONS, alembic_config

    config = alembic_config(engine.url.render_as_string(hide_password=False))
    config.set_main_option("script_location", str(MIGRATIONS))
    assert current_revision(engine) == ScriptDirectory.from_config(config).get_current_head()


def test_upgrading_keeps_existing_rows(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Columns added later get defaults, so a database with sheets in it upgrades (SQLite and PostgreSQL)."""
    import uuid

    from sqlalchemy import create_engine, text

    from storage.db import make_engine
    from storage.migrate import upgrade
    from tests.conftest import POSTGRES_URL, service_missing

    targets = [f"sqlite:///{tmp_path / 'old.sqlite3'}"]
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    name = f"liantu_upgrade_{uuid.uuid4().hex[:8]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        targets.append(admin.url.set(database=name).render_as_string(hide_password=False))
    except Exception as exc:  # noqa: BLE001 - any failure to connect means the service is absent
        service_missing(f"PostgreSQL: {exc.__class__.__name__}")
    try:
        for url in targets:
            engine = make_engine(url)
            upgrade(engine, "0002")
            with engine.begin() as conn:
                conn.execute(
                    text(
                        "INSERT INTO organizations (id, name, kind, created_at) VALUES (1, 'o', 'design_institute', CURRENT_TIMESTAMP)"
                    )
                )
                conn.execute(
                    text(
                        "INSERT INTO projects (id, organization_id, code, name, address, building_use, floors_above, floors_below, height_m, gross_floor_area_m2, fire_resistance_rating, civil_air_defence_area_m2, created_at) VALUES (1, 1, 'c', 'n', '', '', 0, 0, 0, 0, '', 0, CURRENT_TIMESTAMP)"
                    )
                )
                conn.execute(
                    text(
                        "INSERT INTO submissions (id, project_id, state, version, created_at, updated_at) VALUES (1, 1, 'draft', 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                    )
                )
                conn.execute(
                    text(
                        "INSERT INTO rounds (id, submission_id, number, opened_at) VALUES (1, 1, 1, CURRENT_TIMESTAMP)"
                    )
                )
                conn.execute(
                    text(
                        "INSERT INTO drawing_files (id, submission_id, sha256, size, original_name, media_type, object_key, uploaded_at, status, findings) VALUES (1, 1, 'h', 1, 'a.pdf', 'application/pdf', 'k', CURRENT_TIMESTAMP, 'stored', '{}')"
                    )
                )
                conn.execute(
                    text(
                        "INSERT INTO sheets (id, submission_id, number, title, discipline) VALUES (1, 1, 'A-1', '', '')"
                    )
                )
                conn.execute(
                    text(
                        "INSERT INTO sheet_revisions (id, sheet_id, round_id, drawing_file_id, source_index, layout_name, width_pt, height_pt, scale, status, created_at) VALUES (1, 1, 1, 1, 0, '', 1, 1, '', 'pending', CURRENT_TIMESTAMP)"
                    )
                )
            upgrade(engine, "0004")
            with engine.begin() as conn:
                # Two joint letters of one round, as a race before 0005 could leave them.
                conn.execute(
                    text(
                        "INSERT INTO opinion_letters (id, round_id, track_code, object_key, sha256, issued_at) VALUES (1, 1, NULL, 'k1', 'h1', CURRENT_TIMESTAMP), (2, 1, NULL, 'k2', 'h2', CURRENT_TIMESTAMP)"
                    )
                )
                # An invoice of the time when a submission had one at most: it becomes the initial one of round 1.
                conn.execute(
                    text(
                        "INSERT INTO fee_invoices (id, submission_id, number, total_fen, lines, state, paid_fen, version, created_at) VALUES (1, 1, 'LT20260302-000001-0', 100, '[]', 'unpaid', 0, 1, CURRENT_TIMESTAMP)"
                    )
                )
            upgrade(engine)
            with engine.connect() as conn:
                paper, findings = conn.execute(text("SELECT paper, findings FROM sheet_revisions")).one()
                construction_unit = conn.execute(text("SELECT construction_unit FROM projects")).scalar_one()
                letters = conn.execute(text("SELECT object_key FROM opinion_letters")).scalars().all()
                invoice = conn.execute(text("SELECT kind, round_id FROM fee_invoices")).one()
            assert paper == ""
            assert findings in ("[]", [])
            assert construction_unit == ""
            assert letters == ["k1"]
            assert tuple(invoice) == ("initial", 1)
            engine.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
