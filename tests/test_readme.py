"""The README is the user's guide: it starts with the two commands and documents every setting."""

from __future__ import annotations

from pathlib import Path

from app.settings import Settings

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_readme_starts_with_the_two_commands() -> None:
    first_block = README.split("```")[1]
    commands = [line.split("#")[0].strip() for line in first_block.splitlines()[1:] if line.strip()]
    assert commands == ["make run", "make test"]


def test_every_setting_is_documented() -> None:
    missing = [name for name in Settings.model_fields if f"`LIANTU_{name.upper()}`" not in README]
    assert missing == []
