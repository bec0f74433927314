"""The distributed deployment in docker/ is consistent with the code (no Docker engine runs here)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from app.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker" / "compose.yaml"
DOCKERFILE = ROOT / "docker" / "Dockerfile"


def _compose() -> dict[str, object]:
    return yaml.safe_load(COMPOSE.read_text())  # type: ignore[no-any-return]


def _interpolated_environment() -> dict[str, str]:
    env = _compose()["x-liantu-env"]
    assert isinstance(env, dict)
    values: dict[str, str] = {}
    for name, raw in env.items():
        text = str(raw)
        # ${NAME:?message} and ${NAME:-default}: use a real-looking value for the check.
        text = re.sub(r"\$\{LIANTU_SECRET_KEY:\?[^}]*\}", "k" * 48, text)
        text = re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", text)
        values[name] = text
    return values


def test_every_setting_in_compose_is_known_and_valid() -> None:
    settings = load_settings(_interpolated_environment())
    assert settings.store.value == "s3"
    assert settings.database_url.startswith("postgresql+psycopg://")
    assert settings.broker_url.startswith("redis://")
    assert settings.mode.value == "production"


def test_compose_runs_two_web_and_two_worker_containers_on_the_services() -> None:
    services = _compose()["services"]
    assert isinstance(services, dict)
    assert {"postgres", "redis", "minio", "minio-bucket", "migrate", "proxy"} <= services.keys()
    commands = [service.get("command") or [""] for service in services.values()]
    assert sum(1 for command in commands if command[0] == "serve") == 2
    assert commands.count(["worker"]) == 2
    assert "mc mb" in " ".join(services["minio-bucket"]["command"])


def test_web_containers_trust_only_a_forwarded_address_the_proxy_overwrote() -> None:
    services = _compose()["services"]
    assert isinstance(services, dict)
    for name in ("web1", "web2"):
        assert "--forwarded-allow-ips" in services[name]["command"]
        assert "ports" not in services[name]
    nginx = (ROOT / "docker" / "nginx.conf").read_text()
    assert "$proxy_add_x_forwarded_for" not in nginx
    assert nginx.count("X-Forwarded-For $remote_addr") == 2


def test_dockerfile_copies_only_what_exists() -> None:
    for line in DOCKERFILE.read_text().splitlines():
        if line.startswith("COPY") and "--from" not in line:
            sources = line.split()[1:-1]
            for source in sources:
                assert (ROOT / source).exists(), f"Dockerfile copies missing {source}"


def test_compose_file_passes_the_compose_client() -> None:
    client = shutil.which("docker-compose")
    if client is None:
        pytest.skip("docker-compose client not installed")
    result = subprocess.run(
        [client, "-f", str(COMPOSE), "config", "-q"],
        env={"LIANTU_SECRET_KEY": "k" * 48, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
