"""``liantu pki init``: a development PKI that makes the demo signable, run as often as wished."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from app import platform
from app import settings as settings_module
from app.cli import cli
from app.sealing import compose, devpki, identities, seals, trust
from app.sealing.signing import sign_result
from app.settings import Settings, load_settings
from storage.blobstore.local import LocalBlobStore
from storage.db import transaction
from storage.migrate import upgrade
from storage.models import Organization, OrgKind, SigningIdentity, Submission, SubmissionState
from tests.app.sealing.conftest import build_case
from tests.support.pki import SigningPki


def test_init_gives_every_department_and_the_bureau_an_identity_and_a_seal_once(
    session: Session, store: LocalBlobStore, tmp_path: Path
) -> None:
    dev = load_settings({"LIANTU_DATA_DIR": str(tmp_path / "dev"), "LIANTU_SECRET_KEY": "d" * 40})
    orgs = [
        Organization(name="江城市消防救援支队", kind=OrgKind.DEPARTMENT, department_code="fire"),
        Organization(name="江城市住房和城乡建设局", kind=OrgKind.BUREAU),
        Organization(name="江城市建筑设计研究院", kind=OrgKind.DESIGN_INSTITUTE),
    ]
    session.add_all(orgs)
    session.flush()
    report = devpki.init_dev_pki(session, store, dev)
    assert report.created
    assert report.identities == ["江城市消防救援支队", "江城市住房和城乡建设局"]
    assert report.seals == report.identities
    folder = trust.dev_pki_dir(dev)
    assert stat.S_IMODE((folder / "password").stat().st_mode) == 0o600
    # In development the folder's root is trusted without configuration.
    assert len(trust.trust_roots(dev)) == 1
    identity = identities.active_identity(session, orgs[0].id)
    assert identity is not None
    assert "江城市消防救援支队" in identity.subject
    assert seals.active_seal(session, orgs[1].id) is not None
    assert identities.active_identity(session, orgs[2].id) is None

    again = devpki.init_dev_pki(session, store, dev)
    assert not again.created
    assert again.identities == []
    assert again.seals == []
    assert session.scalar(select(func.count()).select_from(SigningIdentity)) == 2


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_the_demo_is_signable_with_the_development_tsa(
    session_factory: sessionmaker[Session],
    store: LocalBlobStore,
    settings: Settings,
    test_pki: SigningPki,
    tmp_path: Path,
) -> None:
    dev = load_settings({"LIANTU_DATA_DIR": str(tmp_path / "dev"), "LIANTU_SECRET_KEY": "d" * 40})
    with session_factory() as session, session.begin():
        case = build_case(session, store, settings, test_pki, with_identities=False)
        devpki.init_dev_pki(session, store, dev)
    server = devpki.start_dev_tsa(dev)
    assert server is not None
    try:
        signing = load_settings(
            {
                "LIANTU_DATA_DIR": str(tmp_path / "dev"),
                "LIANTU_SECRET_KEY": "d" * 40,
                "LIANTU_TSA_URL": server.endpoints.timestamp_url,
            }
        )
        with session_factory() as session, session.begin():
            compose.compose_result(session, store, signing, case.submission_id)
        for code in ("fire", "civil_air_defence", "construction"):
            sign_result(session_factory, store, signing, case.signers[code], case.submission_id)
        assert server.issued >= 4  # three seals and the document timestamp
    finally:
        server.stop()
    with session_factory() as session:
        submission = session.get(Submission, case.submission_id)
        assert submission is not None
        assert submission.state is SubmissionState.SEALED


def test_production_has_no_development_pki(session: Session, store: LocalBlobStore, tmp_path: Path) -> None:
    production = load_settings(
        {
            "LIANTU_MODE": "production",
            "LIANTU_SECRET_KEY": "s" * 40,
            "LIANTU_PAYMENT_SECRET": "p" * 40,
            "LIANTU_DATA_DIR": str(tmp_path),
        }
    )
    with pytest.raises(RuntimeError, match="development"):
        devpki.init_dev_pki(session, store, production)
    assert devpki.start_dev_tsa(production) is None


@pytest.fixture
def cli_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("LIANTU_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("LIANTU_DATABASE_URL", raising=False)
    monkeypatch.delenv("LIANTU_MODE", raising=False)
    platform.set_platform(None)
    settings_module.get_settings.cache_clear()
    upgrade(platform.get_platform().engine)
    yield tmp_path
    platform.get_platform().close()
    platform.set_platform(None)
    settings_module.get_settings.cache_clear()


def test_the_command_writes_the_folder_and_imports(cli_data_dir: Path) -> None:
    with transaction(platform.get_platform().sessions) as session:
        session.add(
            Organization(name="江城市人民防空办公室", kind=OrgKind.DEPARTMENT, department_code="civil_air_defence")
        )
    folder = cli_data_dir / "elsewhere"
    result = CliRunner().invoke(cli, ["pki", "init", "--dir", str(folder)])
    assert result.exit_code == 0, result.output
    assert "江城市人民防空办公室" in result.output
    assert (folder / "root.pem").read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
    assert {p.name for p in folder.iterdir()} == {"root.pem", "issuing.pem", "issuing.p12", "tsa.p12", "password"}
    second = CliRunner().invoke(cli, ["pki", "init", "--dir", str(folder)])
    assert second.exit_code == 0
    assert "exists, reused" in second.output
    assert "江城市人民防空办公室" not in second.output
