"""Numbers a reader can trust: probabilities and differences as text.

Three decimals are enough for most of them, but ``0.000 [0.000, 0.000]`` hides an upper
bound of 0.0003 (a rare base that did happen, or one that cannot be excluded). A nonzero
value that three decimals would round to zero (or a value short of one that they would
round to one) keeps two significant digits instead.
"""

from __future__ import annotations

import math

__all__ = ["fmt_prob", "fmt_prob_ci", "fmt_diff", "fmt_diff_ci", "fmt_num_ci",
           "shorten"]

_HALF = 0.0005  # what three decimals round away


def _small(x: float) -> str:
    """A nonzero magnitude below 0.0005 with two significant digits, or ``<1e-06``."""
    if x < 1e-6:
        return "<1e-06"
    digits = max(3, 1 - math.floor(math.log10(x)))
    return f"{x:.{digits}f}"


def fmt_prob(p: float | None) -> str:
    """A probability: ``0.123``; ``0.00031`` (never ``0.000``) when small but nonzero;
    ``0.99969`` (never ``1.000``) when just short of one; ``-`` for None/NaN."""
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "-"
    p = float(p)
    if 0 < p < _HALF:
        return _small(p)
    if 1 - _HALF < p < 1:
        q = 1 - p
        if q < 1e-6:
            return ">0.999999"
        digits = max(3, 1 - math.floor(math.log10(q)))
        return f"{p:.{digits}f}"
    return f"{p:.3f}"


def fmt_prob_ci(p: float, lo: float, hi: float) -> str:
    """``p [lo, hi]`` with :func:`fmt_prob` for each number."""
    return f"{fmt_prob(p)} [{fmt_prob(lo)}, {fmt_prob(hi)}]"


def fmt_diff(d: float) -> str:
    """A signed difference: ``+0.012``; ``+0.00031`` when small but nonzero."""
    d = float(d) + 0.0  # -0.0 (a bound of 0 from a negative side) prints as +0.000
    if math.isnan(d):
        return "-"
    if 0 < abs(d) < _HALF:
        return ("+" if d > 0 else "-") + _small(abs(d))
    return f"{d:+.3f}"


def fmt_diff_ci(d: float, lo: float, hi: float) -> str:
    return f"{fmt_diff(d)} [{fmt_diff(lo)}, {fmt_diff(hi)}]"


def fmt_num_ci(m: float, lo: float, hi: float, decimals: int = 2) -> str:
    """A mean with its interval, ``decimals`` places; a nonzero bound that would print as
    zero gets two significant digits."""
    def one(x: float) -> str:
        if x != 0 and abs(x) < 0.5 * 10 ** -decimals:
            return f"{x:.2g}"
        return f"{x:.{decimals}f}"
    return f"{one(m)} [{one(lo)}, {one(hi)}]"


def shorten(text: str, width: int = 60) -> str:
    """``text`` cut to ``width`` characters, ending in ``...`` when cut."""
    return text if len(text) <= width else text[:max(width - 3, 1)].rstrip(", ") + "..."
