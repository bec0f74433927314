"""The round seal image and the checks on uploaded seal images."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from signing.errors import InvalidSealImage
from signing.seal import SealImageLimits, SealSpec, accept_seal_png, draw_round_seal


@pytest.fixture(scope="module")
def seal_png() -> bytes:
    return draw_round_seal(SealSpec("某市住房和城乡建设局", "施工图审查专用章", code="3201000012345"))


def test_the_seal_is_a_4_cm_red_ring_on_transparency(seal_png: bytes) -> None:
    image = Image.open(io.BytesIO(seal_png))
    assert image.format == "PNG"
    assert image.mode == "RGBA"
    assert image.size == (472, 472)  # 40 mm at 300 dpi
    assert image.info["dpi"][0] == pytest.approx(300, abs=1)
    # Corners are transparent, the ring at the top centre is opaque red.
    assert image.getpixel((2, 2))[3] == 0
    r, g, b, a = image.getpixel((236, 8))
    assert a > 200
    assert r > 200
    assert g < 60
    assert b < 60
    # The star fills the centre.
    assert image.getpixel((236, 231))[3] > 200
    # Every opaque pixel is red: no black, no white.
    opaque = [px for px in image.get_flattened_data() if px[3] > 250]
    assert len(opaque) > 10_000
    assert all(px[0] > 150 and px[1] < 80 for px in opaque)


def test_the_name_fills_the_upper_arc_and_the_purpose_sits_below_the_star(seal_png: bytes) -> None:
    alpha = Image.open(io.BytesIO(seal_png)).getchannel("A")
    size = alpha.width

    def ink(box: tuple[int, int, int, int]) -> int:
        return sum(1 for v in alpha.crop(box).get_flattened_data() if v > 128)

    band = size // 8
    upper_left = ink((band, band, 2 * band, 2 * band))
    upper_right = ink((size - 2 * band, band, size - band, 2 * band))
    purpose = ink((size // 4, int(size * 0.7), 3 * size // 4, int(size * 0.8)))
    assert upper_left > 200
    assert upper_right > 200
    assert purpose > 500


def test_an_uploaded_seal_is_accepted(seal_png: bytes) -> None:
    accepted = accept_seal_png(seal_png)
    assert (accepted.width, accepted.height) == (472, 472)
    assert accepted.png == seal_png


def _png(mode: str, size: tuple[int, int] = (200, 200), fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size).save(out, format=fmt)
    return out.getvalue()


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (_png("RGB"), "透明"),
        (_png("RGB", fmt="JPEG"), "PNG"),
        (b"GIF89a" + b"\0" * 100, "PNG"),
        (_png("RGBA", (20, 20)), "尺寸"),
        (_png("RGBA")[:60], "损坏"),
    ],
    ids=["no-alpha", "jpeg", "gif", "tiny", "truncated"],
)
def test_bad_uploads_are_refused(data: bytes, fragment: str) -> None:
    with pytest.raises(InvalidSealImage) as raised:
        accept_seal_png(data)
    assert fragment in raised.value.zh
    assert raised.value.en


def test_size_limits_are_enforced(seal_png: bytes) -> None:
    with pytest.raises(InvalidSealImage) as raised:
        accept_seal_png(seal_png, SealImageLimits(max_bytes=1000))
    assert "too large" in raised.value.en
    with pytest.raises(InvalidSealImage):
        accept_seal_png(seal_png, SealImageLimits(max_side=300))
