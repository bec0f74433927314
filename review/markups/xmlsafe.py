"""Parsing XML that comes from outside (XFDF files, SVG selectors) without trusting it.

Entities are never expanded, nothing is fetched from the network, and a document type declaration is
refused outright: no legitimate XFDF or SVG fragment needs one, and it is where entity bombs and
external entities (XXE) live. The size is capped before the parser sees a byte.
"""

from __future__ import annotations

import re

from lxml import etree

from review.markups.errors import MarkupError

_DECLARATION = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


def parse_untrusted(data: bytes, *, max_bytes: int, error: type[MarkupError], what: str) -> etree._Element:
    """The root element of ``data``; ``error`` (with a code) when it is too large, hostile or not XML."""
    if len(data) > max_bytes:
        raise error(
            f"{what} 文件过大（{len(data)} 字节，上限 {max_bytes} 字节）",
            f"the {what} document is {len(data)} bytes; at most {max_bytes} are accepted",
            code="XML_TOO_LARGE",
        )
    if _DECLARATION.search(data):
        raise error(
            f"{what} 文件含有 DOCTYPE 或实体声明，出于安全原因拒收",
            f"the {what} document declares a DOCTYPE or entities, which is refused for safety",
            code="XML_DOCTYPE_REFUSED",
        )
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise error(f"{what} 文件不是格式正确的 XML", f"the {what} document is not well-formed XML: {exc}") from exc
    docinfo = root.getroottree().docinfo
    # Encodings other than UTF-8 (UTF-16) slip past the byte scan; the parsed tree still tells.
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise error(
            f"{what} 文件含有 DOCTYPE 或实体声明，出于安全原因拒收",
            f"the {what} document declares a DOCTYPE or entities, which is refused for safety",
            code="XML_DOCTYPE_REFUSED",
        )
    for node in root.iter():
        if isinstance(node, etree._Entity):
            raise error(
                f"{what} 文件引用了实体，出于安全原因拒收",
                f"the {what} document refers to entities, which is refused for safety",
                code="XML_DOCTYPE_REFUSED",
            )
    return root
