"""Interface language: message catalogues (JSON, per locale) and the choice of locale.

A locale's catalogue is ``locales/<locale>.json`` merged with ``locales/<area>/<locale>.json`` of every
area of the interface (review, signing, supervision…); a key defined twice is an error.

zh-CN is the default; English is the second language. A key missing from a catalogue is a bug
caught by ``tests/app/web/test_i18n.py``; at run time it falls back to the other catalogue and
then to the key itself, so a page never fails for want of a translation.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

LOCALES: tuple[str, ...] = ("zh-CN", "en")
LOCALE_DIR = Path(__file__).with_name("locales")


@lru_cache(maxsize=len(LOCALES))
def catalogue(locale: str) -> dict[str, str]:
    """The messages of one locale, key → text."""
    data: dict[str, str] = {}
    for path in catalogue_files(locale):
        part: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
        twice = sorted(data.keys() & part.keys())
        if twice:
            raise ValueError(f"{path}: keys already defined in another catalogue: {', '.join(twice[:5])}")
        data.update(part)
    return data


def catalogue_files(locale: str) -> list[Path]:
    """The files making up one locale's catalogue: the main one, then one per area."""
    return [LOCALE_DIR / f"{locale}.json", *sorted(LOCALE_DIR.glob(f"*/{locale}.json"))]


def normalise(locale: str | None) -> str | None:
    """Map ``zh``, ``zh-cn``, ``zh_Hans_CN``, ``en-GB``… to a supported locale, or None."""
    if not locale:
        return None
    tag = locale.strip().replace("_", "-").lower()
    if tag.startswith("zh"):
        return "zh-CN"
    if tag.startswith("en"):
        return "en"
    return None


def from_accept_language(header: str | None) -> str | None:
    """The supported locale the browser prefers most (``Accept-Language`` with q-values)."""
    if not header:
        return None
    ranked: list[tuple[float, int, str]] = []
    for position, item in enumerate(header.split(",")):
        tag, _, params = item.strip().partition(";")
        quality = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                quality = float(params[2:])
            except ValueError:
                quality = 0.0
        locale = normalise(tag)
        if locale and quality > 0:
            ranked.append((-quality, position, locale))
    return min(ranked)[2] if ranked else None


def translate(locale: str, key: str, **params: Any) -> str:
    """The text for ``key`` in ``locale``, with ``{name}`` placeholders filled in."""
    text = catalogue(locale).get(key)
    if text is None:
        other = next(loc for loc in LOCALES if loc != locale) if locale in LOCALES else LOCALES[0]
        text = catalogue(other).get(key, key)
    return text.format(**params) if params else text


def other_locale(locale: str) -> str:
    return "en" if locale == "zh-CN" else "zh-CN"


class Translator:
    """``t(key, **params)`` bound to one locale; what templates and handlers call."""

    def __init__(self, locale: str) -> None:
        self.locale = locale

    def __call__(self, key: str, **params: Any) -> str:
        return translate(self.locale, key, **params)

    def both(self, key: str, **params: Any) -> tuple[str, str]:
        """The text in the current language first, then in the other one (bilingual notices)."""
        return translate(self.locale, key, **params), translate(other_locale(self.locale), key, **params)
