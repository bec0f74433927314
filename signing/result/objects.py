"""The object structure of the result, kept small for validation.

pyHanko's difference analysis reads every object reachable from the document and walks every path
to it once for each revision after a signature (a sealed result has five revisions). The walk does
not stop at objects it has seen by another path, so what each page references is walked once per
page. PyMuPDF leaves more objects than the pages need: a content stream for every drawing call and
a wrapper form around every placed page. These steps remove them without changing what is drawn.
"""

from __future__ import annotations

import re
from collections import Counter

from signing.result.mupdf import Document

_IDENTITY = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)


def one_content_stream_per_page(doc: Document) -> None:
    """Join each page's content streams into one new stream (a certificate page had 28).

    The originals are left unreferenced and dropped when the document is saved with garbage collection.
    """
    for page in doc:
        xrefs = page.get_contents()
        if len(xrefs) < 2:
            continue
        joined = doc.get_new_xref()
        doc.update_object(joined, "<<>>")
        doc.update_stream(joined, b"\n".join(doc.xref_stream(xref) for xref in xrefs))
        doc.xref_set_key(page.xref, "Contents", f"{joined} 0 R")


def _array(doc: Document, xref: int, key: str) -> tuple[list[str], tuple[float, ...]] | None:
    """An array of numbers: its tokens as written, and their values."""
    kind, value = doc.xref_get_key(xref, key)
    if kind != "array":
        return None
    tokens = value.strip("[]").split()
    try:
        return tokens, tuple(float(token) for token in tokens)
    except ValueError:
        return None


def _xref(doc: Document, xref: int, key: str) -> int | None:
    kind, value = doc.xref_get_key(xref, key)
    return int(value.split()[0]) if kind == "xref" else None


def unwrap_placed_pages(doc: Document) -> None:
    """Let each page use the form of a placed page (``show_pdf_page``) directly.

    PyMuPDF draws a placed page through a wrapper form of its own whose only content is ``/fullpage
    Do``. When the wrapper clips to the same box as the placed form, the wrapper's matrix can go into
    the page's content instead (``cm``), and the wrapper is dropped. Call it after
    :func:`one_content_stream_per_page`; pages whose structure differs are left as they are.
    """
    pages_per_resources = Counter(_xref(doc, page.xref, "Resources") for page in doc)
    pages_per_content = Counter(xref for page in doc for xref in page.get_contents())
    for page in doc:
        resources = _xref(doc, page.xref, "Resources")
        contents = page.get_contents()
        if resources is None or pages_per_resources[resources] != 1:
            continue
        if len(contents) != 1 or pages_per_content[contents[0]] != 1:
            continue
        content = doc.xref_stream(contents[0])
        changed = False
        for wrapper, name, invoker, _ in page.get_xobjects():
            if invoker != 0 or doc.xref_stream(wrapper).strip() != b"/fullpage Do":
                continue
            inner = _xref(doc, wrapper, "Resources/XObject/fullpage")
            if inner is None:
                continue
            matrix, box, inner_box = (
                _array(doc, x, k) for x, k in ((wrapper, "Matrix"), (wrapper, "BBox"), (inner, "BBox"))
            )
            inner_matrix = _array(doc, inner, "Matrix")
            if matrix is None or len(matrix[1]) != 6 or box is None or inner_box is None or box[1] != inner_box[1]:
                continue
            if inner_matrix is not None and inner_matrix[1] != _IDENTITY:
                continue
            call = re.compile(rb"(?<![^\s])q\s+/" + re.escape(name.encode()) + rb"\s+Do\s+Q(?![^\s])")
            if len(call.findall(content)) != 1:
                continue
            transform = "" if matrix[1] == _IDENTITY else " ".join(matrix[0]) + " cm "
            content = call.sub(f"q {transform}/{name} Do Q".encode(), content)
            doc.xref_set_key(resources, f"XObject/{name}", f"{inner} 0 R")
            changed = True
        if changed:
            doc.update_stream(contents[0], content)
