"""The migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine

from storage.migrate import current_revision
from storage.models import Base


def test_migrated_schema_matches_the_models(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


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
            upgrade(engine)
            with engine.connect() as conn:
                paper, findings = conn.execute(text("SELECT paper, findings FROM sheet_revisions")).one()
            assert paper == ""
            assert findings in ("[]", [])
            engine.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
