"""If-None-Match as RFC 9110 reads it: weak comparison, lists of tags, ``*``."""

from __future__ import annotations

import pytest

from app.etags import none_match_names


@pytest.mark.parametrize(
    ("header", "etag"),
    [
        ('"abc"', '"abc"'),
        ('W/"abc"', '"abc"'),
        ('"abc"', 'W/"abc"'),
        ('W/"abc"', 'W/"abc"'),
        ('"x", W/"abc"', '"abc"'),
        ('"x",W/"abc" , "y"', 'W/"abc"'),
        ("*", '"abc"'),
        ('"a,b", "c"', '"a,b"'),
        ('"a,b", "c"', '"c"'),
        ('junk, "abc"', '"abc"'),
        ('  "abc"  ', '"abc"'),
        ('""', '""'),
    ],
)
def test_names_the_tag(header: str, etag: str) -> None:
    assert none_match_names(header, etag)


@pytest.mark.parametrize(
    ("header", "etag"),
    [
        (None, '"abc"'),
        ("", '"abc"'),
        ('"abd"', '"abc"'),
        ('"ABC"', '"abc"'),
        ("abc", '"abc"'),  # unquoted: not an entity tag
        ('w/"abc"', '"abc"'),  # the weak prefix is case-sensitive
        ('"a,b"', '"a"'),
        ('"a,b"', '"b"'),
        ('"x", "y"', 'W/"abc"'),
        ('W/"ab', '"ab"'),
        ("**", '"abc"'),
    ],
)
def test_does_not_name_the_tag(header: str | None, etag: str) -> None:
    assert not none_match_names(header, etag)
