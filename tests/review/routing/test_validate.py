from __future__ import annotations

import json
from pathlib import Path

import pytest

from review.routing.validate import main


def test_the_shipped_files_are_described(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "fire 消防审查 / Fire protection review" in out
    assert "item civil_air_defence_plans: 人防平面图 (essential 必备, ≥1) when civil air defence area (m²) > 0" in out


def test_a_defective_file_exits_1_with_the_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "track_rules.json"
    bad.write_text(json.dumps({"format": 1, "tracks": {"fire": {}}}), "utf-8")
    assert main(["--rules", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "missing keys" in err
    assert "缺少字段" in err


def test_unknown_options_show_the_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--kinds", "x.json"]) == 2
    assert main(["--rules"]) == 2
    assert "usage" in capsys.readouterr().err
