"""Composing the joint review result: Liantu against bare PyMuPDF page copying.

Run as ``.venv/bin/python bench/bench_result.py [--sheets N] [--paths P]``. Generates N A1 sheets
with P vector paths each (one sheet PDF per sheet), then measures:

- raw: PyMuPDF alone places every sheet page into a new document and saves it (the floor);
- compose: :func:`signing.compose.compose_result` (certificate, manifest, stamp placement probe,
  stamps, QR codes, font subsetting, save);
- prepare: adding the signature fields (:func:`signing.sign.prepare_result`) to that result.

Fonts are extracted from the Noto CJK collections once before timing, as in a worker that has
composed a result before.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import random
import sys
import time
from pathlib import Path

import pymupdf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from signing.compose import (
    ApprovedSheet,
    ResultData,
    TrackConclusion,
    compose_and_prepare,
    compose_result,
    seal_slots,
    signature_fields,
)
from signing.result.typeset import Face, text_width
from signing.sign import prepare_result

A1 = (2384.0, 1684.0)


def sheet_pdf(number: int, paths: int) -> bytes:
    rnd = random.Random(number)
    doc = pymupdf.open()
    page = doc.new_page(width=A1[0], height=A1[1])
    shape = page.new_shape()
    for _ in range(paths):
        x, y = rnd.uniform(100, 2200), rnd.uniform(100, 1500)
        shape.draw_line((x, y), (x + rnd.uniform(-80, 80), y + rnd.uniform(-80, 80)))
    shape.finish(color=(0, 0, 0), width=0.3)
    shape.commit()
    page.insert_text((1900, 1600), f"A-{number:04d}", fontsize=14)
    data = doc.tobytes(deflate=True)
    doc.close()
    return data


def data() -> ResultData:
    day = dt.date(2026, 11, 20)
    return ResultData(
        project_name="某市某区综合体项目",
        project_code="2026-000000-00-00-000001",
        address="某市某区某路 1 号",
        building_use="商业、办公",
        floors_above=32,
        floors_below=3,
        height_m=138.5,
        gross_floor_area_m2=186_000.0,
        fire_resistance_rating="一级",
        civil_air_defence_area_m2=12_000.0,
        review_number="LT-2026-009999",
        issued_on=dt.date(2026, 11, 27),
        construction_unit="某市某置业有限公司",
        design_institute="某建筑设计研究院有限公司",
        tracks=(
            TrackConclusion("消防审查", "Fire protection", "合格", ("甲", "乙"), "丙", day, 2),
            TrackConclusion("人防审查", "Civil air defence", "合格", ("丁",), "戊", day, 1),
            TrackConclusion("施工图审查", "Construction drawing review", "合格", ("己", "庚"), "辛", day, 3),
        ),
        verification_url="https://liantu.example.gov.cn/verify/LT-2026-009999",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sheets", type=int, default=200)
    parser.add_argument("--paths", type=int, default=2000)
    args = parser.parse_args()

    pdfs = [sheet_pdf(n, args.paths) for n in range(args.sheets)]
    sheets = [
        ApprovedSheet(
            f"A-{n:04d}",
            f"第 {n + 1} 张图纸",
            1,
            hashlib.sha256(b"original %d" % n).hexdigest(),
            hashlib.sha256(pdf).hexdigest(),
            pdf,
        )
        for n, pdf in enumerate(pdfs)
    ]
    slots = seal_slots([("fire", "消防"), ("civil_defence", "人防"), ("construction", "住建")])
    for face in Face:
        text_width("审", face, 10)

    start = time.perf_counter()
    raw = pymupdf.open()
    for pdf in pdfs:
        with pymupdf.open(stream=pdf, filetype="pdf") as source:
            page = raw.new_page(width=A1[0], height=A1[1])
            page.show_pdf_page(page.rect, source, 0)
    raw_bytes = raw.tobytes(garbage=3, deflate=True)
    raw.close()
    raw_time = time.perf_counter() - start

    start = time.perf_counter()
    result = compose_result(data(), sheets, slots)
    compose_time = time.perf_counter() - start

    start = time.perf_counter()
    prepared = prepare_result(result, signature_fields(slots))
    prepare_time = time.perf_counter() - start
    assert len(prepared) > len(result)
    assert compose_and_prepare is not None

    print(f"{args.sheets} A1 sheets × {args.paths} paths")
    print(f"raw PyMuPDF copy   {raw_time:7.2f} s   {len(raw_bytes) / 1e6:7.1f} MB")
    print(
        f"compose_result     {compose_time:7.2f} s   {len(result) / 1e6:7.1f} MB   ×{compose_time / raw_time:.2f} raw"
    )
    print(f"prepare_result     {prepare_time:7.2f} s")
    print(f"per sheet          {1000 * compose_time / args.sheets:7.1f} ms")


if __name__ == "__main__":
    main()
