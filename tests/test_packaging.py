"""The installed package (as in the Docker image) carries every data file the code reads."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("app", "review", "signing", "storage")


@pytest.mark.slow
def test_wheel_contains_every_tracked_file_of_the_packages(tmp_path: Path) -> None:
    tracked = subprocess.run(
        ["git", "ls-files", *PACKAGES], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    if not tracked:
        pytest.skip("not a git checkout")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    wheel = next(tmp_path.glob("liantu-*.whl"))
    packaged = set(zipfile.ZipFile(wheel).namelist())
    missing = [name for name in tracked if name not in packaged and (ROOT / name).exists()]
    assert missing == []
