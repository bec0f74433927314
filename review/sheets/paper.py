"""Paper sizes (图幅): ISO A, GB/T 50001 lengthened A sizes (加长图幅), ANSI and ARCH."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from functools import cache

MM_PER_POINT = 25.4 / 72


@dataclass(frozen=True)
class Paper:
    """A named paper size, short side first."""

    name: str
    """``A1``, ``A2+1/4`` (A2 lengthened by a quarter of its long side), ``ARCH D``, ``ANSI B``."""
    short_mm: float
    long_mm: float


_ISO = {"A0": (841, 1189), "A1": (594, 841), "A2": (420, 594), "A3": (297, 420), "A4": (210, 297)}
# GB/T 50001: the long side of A0-A3 may be lengthened in steps of 1/4 (A3: 1/2) of its length.
_LENGTHENED = {
    "A0": (Fraction(1, 4), 4),
    "A1": (Fraction(1, 4), 6),
    "A2": (Fraction(1, 4), 10),
    "A3": (Fraction(1, 2), 7),
}
_INCH = 25.4
_US = {
    "ANSI A": (8.5, 11),
    "ANSI B": (11, 17),
    "ANSI C": (17, 22),
    "ANSI D": (22, 34),
    "ANSI E": (34, 44),
    "ARCH A": (9, 12),
    "ARCH B": (12, 18),
    "ARCH C": (18, 24),
    "ARCH D": (24, 36),
    "ARCH E1": (30, 42),
    "ARCH E": (36, 48),
}


@cache
def known_papers() -> tuple[Paper, ...]:
    """Every named size, ISO first."""
    papers = [Paper(name, short, long) for name, (short, long) in _ISO.items()]
    for name, (step, count) in _LENGTHENED.items():
        short, long = _ISO[name]
        for n in range(1, count + 1):
            extra = step * n
            papers.append(Paper(f"{name}+{extra}", short, round(long * (1 + float(extra)))))
    papers += [Paper(name, short * _INCH, long * _INCH) for name, (short, long) in _US.items()]
    return tuple(papers)


def nearest_paper(width_mm: float, height_mm: float) -> Paper | None:
    """The named size within 2 % (at least 3 mm) on each side, whatever the orientation, else None."""
    short, long = sorted((width_mm, height_mm))

    def fits(paper: Paper) -> bool:
        return all(abs(a - b) <= max(3.0, 0.02 * b) for a, b in ((short, paper.short_mm), (long, paper.long_mm)))

    fitting = [p for p in known_papers() if fits(p)]
    return min(fitting, key=lambda p: abs(p.short_mm - short) + abs(p.long_mm - long), default=None)
