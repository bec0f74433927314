"""Both catalogues hold exactly the same keys, and every key the interface uses is in them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.notifications import NotificationKind
from app.notifications.mail import MailState
from app.progress import FeeState, Party, Task
from app.web import i18n
from app.web.errors import TITLED_STATUSES
from review.workflow import Event
from storage.models import OrgKind, Role, SubmissionState, TrackReviewState

WEB = Path(i18n.__file__).parent
# t("key"), t('key'), t.both("key") and the template macro empty("key"), in templates and in the
# web package's Python code. A literal followed by ``~`` or ``+`` is the prefix of a composed key.
KEY_USE = re.compile(r"""\b(?:t|t\.both|empty)\(\s*(["'])([A-Za-z0-9_.\-]+)\1\s*(?P<next>[~+,)])""")
DYNAMIC_PREFIXES = (
    ("role.", Role),
    ("state.", SubmissionState),
    ("review_state.", TrackReviewState),
    ("org_kind.", OrgKind),
    ("notify.", NotificationKind),
    ("outbox.state.", MailState),
    ("progress.party.", Party),
    ("progress.task.", Task),
    ("progress.fee.", FeeState),
    ("progress.event.", Event),
)


def used_keys() -> dict[str, str]:
    """Every literal key used, with the file that uses it first."""
    found: dict[str, str] = {}
    files = [*sorted((WEB / "templates").rglob("*.html")), *sorted(WEB.rglob("*.py"))]
    for path in files:
        for match in KEY_USE.finditer(path.read_text(encoding="utf-8")):
            key = match.group(2)
            if match.group("next") in "~+":
                key += "*"
            found.setdefault(key, str(path.relative_to(WEB)))
    return found


def dynamic_keys() -> set[str]:
    """Keys composed at run time: one per enum member, one title per error status."""
    keys = {prefix + member.value for prefix, enum in DYNAMIC_PREFIXES for member in enum}
    return keys | {f"error.{status}.title" for status in TITLED_STATUSES}


def test_the_scan_finds_keys():
    keys = used_keys()
    assert "login.title" in keys
    assert "home.projects.empty" in keys
    assert "role.*" in keys
    assert len(keys) > 40


def test_composed_keys_have_known_prefixes():
    """A key built at run time must use a prefix whose complete set is checked below."""
    composed = {key[:-1] for key in used_keys() if key.endswith("*")}
    assert composed <= {prefix for prefix, _ in DYNAMIC_PREFIXES}


def test_catalogues_have_the_same_keys():
    zh, en = set(i18n.catalogue("zh-CN")), set(i18n.catalogue("en"))
    assert sorted(zh - en) == [], "only in zh-CN.json"
    assert sorted(en - zh) == [], "only in en.json"


@pytest.mark.parametrize("locale", i18n.LOCALES)
def test_every_used_key_is_translated(locale):
    catalogue = i18n.catalogue(locale)
    literal = {key: where for key, where in used_keys().items() if not key.endswith("*")}
    missing = {key: where for key, where in literal.items() if key not in catalogue}
    missing.update({key: "(dynamic)" for key in dynamic_keys() if key not in catalogue})
    assert missing == {}


@pytest.mark.parametrize("locale", i18n.LOCALES)
def test_no_empty_or_untranslated_text(locale):
    for key, text in i18n.catalogue(locale).items():
        assert text.strip(), key
    if locale == "en":
        # English text must not have been left in Chinese (the language switch label is the exception).
        chinese = {k for k, v in i18n.catalogue("en").items() if re.search(r"[\u4e00-\u9fff]", v)}
        assert chinese == {"locale.switch"}


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("en-US,en;q=0.9", "en"),
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh-CN"),
        ("fr-FR, en;q=0.5, zh;q=0.7", "zh-CN"),
        ("fr-FR", None),
        ("en;q=0, zh-TW", "zh-CN"),
        ("", None),
    ],
)
def test_accept_language(header, expected):
    assert i18n.from_accept_language(header) == expected


def test_placeholders_are_filled():
    assert i18n.translate("zh-CN", "round.n", n=2) == "第 2 轮"
    assert i18n.translate("en", "round.n", n=2) == "Round 2"


def test_keys_named_in_python_tables_are_translated():
    """Keys kept in Python data (the case links of a submission page) rather than written as t("…")."""
    from app.web.projects import case_links
    from storage.models import Round, Submission, SubmissionState

    submission = Submission(id=1, state=SubmissionState.SEALED)
    submission.rounds = [Round(number=1)]
    for locale in i18n.LOCALES:
        catalogue = i18n.catalogue(locale)
        links = case_links(submission, has_invoice=True)
        assert len(links) == 5
        for key, _path, _testid in links:
            assert key in catalogue, (locale, key)
