"""The analyst's workbench: paired score intervals, number formats, ls, compare, sweep
directories, progress lines."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from abm.analysis.formats import fmt_diff_ci, fmt_prob, fmt_prob_ci
from abm.analysis.history import compare_rows
from abm.analysis.stats import newcombe_paired, newcombe_paired_counts, wilson


def _direct_newcombe10(e, f, g, h, z=1.959963984540054):
    """Newcombe (1998) method 10 written out from the paper's formulas, independently of
    abm.analysis.stats (own Wilson limits, own phi correction)."""
    n = e + f + g + h

    def wil(k):
        p = k / n
        c = (2 * k + z * z) / (2 * (n + z * z))
        half = z * math.sqrt(z * z + 4 * k * (1 - p)) / (2 * (n + z * z))
        return c - half, c + half

    p1, p2 = (e + f) / n, (e + g) / n
    (l1, u1), (l2, u2) = wil(e + f), wil(e + g)
    a = e * h - f * g
    c = a - n / 2 if a > n / 2 else (a if a < 0 else 0)
    den = (e + f) * (g + h) * (e + g) * (f + h)
    phi = c / math.sqrt(den) if den else 0.0
    d = p1 - p2
    lo = d - math.sqrt((p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2)
    hi = d + math.sqrt((p2 - l2) ** 2 - 2 * phi * (p2 - l2) * (u1 - p1) + (u1 - p1) ** 2)
    return d, lo, hi


@pytest.mark.parametrize("cells,expected", [
    # Fagerland, Lydersen & Laake (2017), "Statistical Analysis of Contingency Tables",
    # chapter 8, the Newcombe square-and-add interval (method 10) as their R package
    # contingencytables prints it: estimate -0.0621, 95% CI -0.1186 to -0.0046
    ((59, 6, 16, 80), (-0.0621, -0.1186, -0.0046)),
    # Bentur et al. (2009), same book and package: -0.2857 (-0.5069 to -0.0256)
    ((1, 1, 7, 12), (-0.2857, -0.5069, -0.0256)),
])
def test_newcombe_method_10_against_published_values(cells, expected):
    got = newcombe_paired_counts(*cells)
    assert got == pytest.approx(expected, abs=6e-5)


@pytest.mark.parametrize("cells", [(8, 5, 4, 3), (12, 2, 1, 14), (0, 1, 1, 1), (54, 1, 0, 0),
                                   (40, 0, 0, 60), (3, 10, 0, 987), (500, 20, 35, 445)])
def test_newcombe_method_10_matches_a_direct_implementation(cells):
    assert newcombe_paired_counts(*cells) == pytest.approx(_direct_newcombe10(*cells),
                                                           abs=1e-12)


def test_newcombe_from_indicators_is_second_minus_first():
    rng = np.random.default_rng(1)
    a = rng.random(400) < 0.3
    b = a.copy()
    b[:40] = ~b[:40]
    e, f, g = int(np.sum(a & b)), int(np.sum(b & ~a)), int(np.sum(a & ~b))
    d, lo, hi = newcombe_paired(a, b)
    assert d == pytest.approx(b.mean() - a.mean())
    assert (d, lo, hi) == newcombe_paired_counts(e, f, g, 400 - e - f - g)
    assert lo < d < hi


def test_no_discordant_pair_still_gives_an_interval():
    d, lo, hi = newcombe_paired_counts(0, 0, 0, 2000)
    assert d == 0
    assert lo < 0 < hi and hi == pytest.approx(-lo)
    # as wide as the Wilson interval of 0 out of 2000 (phi = 0)
    assert hi == pytest.approx(wilson(0, 2000)[1])
    gb = np.zeros((2000, 2), dtype=bool)
    rows = compare_rows("same", ("A", "B"), gb, gb.copy())
    for r in rows:
        assert r["delta"] == 0 and r["ci_low"] < 0 < r["ci_high"]
        assert r["wald_ci_low"] == r["wald_ci_high"] == 0  # what Wald said
        assert "+0.000 [+0.000, +0.000]" not in fmt_diff_ci(r["delta"], r["ci_low"],
                                                            r["ci_high"])


def test_probabilities_never_print_as_zero_when_nonzero():
    assert fmt_prob(0.0) == "0.000"
    assert fmt_prob(0.00037) == "0.00037"
    assert fmt_prob(0.123456) == "0.123"
    assert fmt_prob(1.0) == "1.000"
    assert not fmt_prob(0.99996).startswith("1.000")
    assert fmt_prob_ci(0.0, 0.0, 0.00038) == "0.000 [0.000, 0.00038]"
    assert fmt_diff_ci(0.0, -0.0002, 0.0002) == "+0.000 [-0.00020, +0.00020]"
    # a value from a 1e6-trial run keeps two significant digits
    lo, hi = wilson(1, 1_000_000)
    text = fmt_prob_ci(1e-6, lo, hi)
    assert "0.000 " not in text and "0.000]" not in text and "0.0000010" in text


def test_compare_json_keeps_the_old_keys(tmp_path):
    gb = np.zeros((100, 1), dtype=bool)
    g = gb.copy()
    g[:5] = True
    r = compare_rows("x", ("A",), gb, g)[0]
    assert {"scenario", "state", "delta", "ci_low", "ci_high", "p_base"} <= set(r)
    assert r["delta"] == pytest.approx(0.05)
    assert r["n_gained"] == 5 and r["n_lost"] == 0
    json.dumps(r)
