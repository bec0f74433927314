"""Check routing data files: ``python -m review.routing.validate [--rules FILE] [--checklists FILE]``.

Without arguments the shipped files are checked. Prints each track's rules and checklist items and
exits 1 on the first defect, with the message in Chinese and English.
"""

from __future__ import annotations

import sys
from pathlib import Path

from review.routing.checklist import Checklists, checklists, load_checklists_bytes
from review.routing.conditions import describe as describe_condition
from review.routing.errors import RulesInvalid
from review.routing.kinds import kind_table
from review.routing.rules import TrackRules, load_track_rules_bytes, track_rules


def describe(rules: TrackRules, lists: Checklists) -> list[str]:
    """One heading per track, then its rules and its checklist items."""
    lines = [f"{len(kind_table().kinds)} sheet kinds, {len(kind_table().rules)} keyword rules"]
    for code, routing in rules.tracks.items():
        lines.append(f"{code} {routing.zh} / {routing.en}")
        lines.extend(f"  rule {rule.id}: {rule.zh}" for rule in routing.rules)
        for item in lists.tracks[code].items:
            need = "essential 必备" if item.essential else "tolerable 可容缺"
            when = f" when {describe_condition(item.when)[1]}" if item.when is not None else ""
            lines.append(f"  item {item.id}: {item.zh} ({need}, ≥{item.min_count}){when}")
    return lines


def main(argv: list[str]) -> int:
    """Validate the files named in ``argv`` (or the shipped ones); return the exit status."""
    paths = dict(zip(argv[::2], argv[1::2], strict=False))
    unknown = sorted(set(paths) - {"--rules", "--checklists"})
    if unknown or len(argv) % 2:
        print("usage: python -m review.routing.validate [--rules FILE] [--checklists FILE]", file=sys.stderr)
        return 2
    try:
        rules = load_track_rules_bytes(Path(paths["--rules"]).read_bytes()) if "--rules" in paths else track_rules()
        lists = (
            load_checklists_bytes(Path(paths["--checklists"]).read_bytes()) if "--checklists" in paths else checklists()
        )
    except RulesInvalid as exc:
        print(exc, file=sys.stderr)
        return 1
    print("\n".join(describe(rules, lists)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
