"""Errors of the review desk that need more than the application's general kinds.

Each one is an :class:`app.errors.LiantuError`, so that anything not answering them specially still gives
the user the bilingual message.
"""

from __future__ import annotations

from app.errors import Conflict, Invalid


class Rejected(Invalid):
    """Input that breaks a named rule (bad geometry, a comment too long, an unknown clause); ``code`` names it."""

    def __init__(self, zh: str, en: str, code: str) -> None:
        super().__init__(zh, en)
        self.code = code


class PreconditionRequired(Conflict):
    """A change was sent without saying which version of the object it changes (no ``If-Match``)."""

    def __init__(self) -> None:
        super().__init__(
            "请先读取对象再修改（缺少 If-Match 版本）",
            "read the object first and send its version in If-Match",
        )


class PreconditionFailed(Conflict):
    """The object changed since the sender read it; nothing was changed."""

    def __init__(self, current_version: int | None = None) -> None:
        super().__init__(
            "该对象已被他人修改，您的修改未保存，请刷新后重试",
            "someone changed this in the meantime; your change was not saved — reload and try again",
        )
        self.current_version = current_version
