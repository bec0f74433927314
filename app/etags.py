"""Conditional requests (条件请求): whether a client's ``If-None-Match`` names the current entity tag.

One reading for every handler and use case that answers 304, so that weak tags and lists of tags are understood
alike everywhere.
"""

from __future__ import annotations

import re

# A quoted tag may hold commas (RFC 9110 8.8.3: etagc is any visible character but DQUOTE), so the list is scanned
# for tags rather than split at commas. A member that is neither a tag nor ``*`` is passed over.
_MEMBER = re.compile(r'(?:W/)?("[^"]*")|(\*)(?=\s*(?:,|$))|[^,\s][^,]*')


def _opaque(tag: str) -> str:
    return tag.removeprefix("W/")


def none_match_names(if_none_match: str | None, etag: str) -> bool:
    """Whether the ``If-None-Match`` value names ``etag``: a ``*``, or a listed tag equal to it under the weak
    comparison of RFC 9110 13.1.2 (``W/"x"`` and ``"x"`` are the same tag). ``etag`` is quoted, weak or strong.
    """
    if not if_none_match:
        return False
    opaque = _opaque(etag)
    for member in _MEMBER.finditer(if_none_match):
        quoted, star = member.groups()
        if star is not None or (quoted is not None and quoted == opaque):
            return True
    return False
