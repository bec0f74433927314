"""Settings: typed, checked at start-up, bad values named in the message."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.settings import Mode, SettingsError, StoreKind, load_settings


def test_defaults_are_the_embedded_platform(tmp_path: Path) -> None:
    settings = load_settings({"LIANTU_DATA_DIR": str(tmp_path)})
    assert settings.effective_database_url == f"sqlite:///{tmp_path / 'liantu.sqlite3'}"
    assert settings.effective_broker_url == f"sqla+sqlite:///{tmp_path / 'broker.sqlite3'}"
    assert settings.effective_store_path == tmp_path / "objects"
    assert settings.store is StoreKind.LOCAL
    assert settings.default_locale == "zh-CN"
    assert settings.max_upload_bytes == 2 * 1024**3


def test_development_secret_is_generated_once_and_kept(tmp_path: Path) -> None:
    first = load_settings({"LIANTU_DATA_DIR": str(tmp_path)}).effective_secret_key
    second = load_settings({"LIANTU_DATA_DIR": str(tmp_path)}).effective_secret_key
    assert first == second
    assert len(first) >= 32
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"LIANTU_PORT": "eighty"}, "LIANTU_PORT"),
        ({"LIANTU_PORT": "70000"}, "LIANTU_PORT"),
        ({"LIANTU_MAX_UPLOAD_BYTES": "-1"}, "LIANTU_MAX_UPLOAD_BYTES"),
        ({"LIANTU_DEFAULT_LOCALE": "fr"}, "LIANTU_DEFAULT_LOCALE"),
        ({"LIANTU_DATABASE_URL": "mysql://x"}, "LIANTU_DATABASE_URL"),
        ({"LIANTU_BROKER_URL": "kafka://x"}, "LIANTU_BROKER_URL"),
        ({"LIANTU_STORE": "ftp"}, "LIANTU_STORE"),
        ({"LIANTU_STORE": "s3"}, "LIANTU_S3_ENDPOINT"),
        ({"LIANTU_MODE": "production"}, "LIANTU_SECRET_KEY"),
        ({"LIANTU_COLOUR": "red"}, "LIANTU_COLOUR"),
    ],
)
def test_bad_values_stop_start_up_naming_the_setting(environ: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(environ)
    assert named in str(caught.value)
    assert "设置" in str(caught.value)


def test_production_accepts_a_long_secret() -> None:
    settings = load_settings({"LIANTU_MODE": "production", "LIANTU_SECRET_KEY": "s" * 40})
    assert settings.mode is Mode.PRODUCTION
    assert settings.secure_cookies
    assert settings.effective_secret_key == "s" * 40


def test_tooling_variables_are_not_settings() -> None:
    load_settings({"LIANTU_REQUIRE_SERVICES": "1"})
