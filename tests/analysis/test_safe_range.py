"""Critical temperatures where failure is not monotone in T: a safe range below a failing top.

The scan starts at the top of its grid (1e3); a long float16 row's sum of exponentials overflows
there (70000 terms near 1 pass 65504) while lower T are safe, and x/T or 0/0 fails again lower
still. The search read the method as unsafe at every T ("every T", min_safe inf).
"""

from __future__ import annotations

import math

import numpy as np

from smcheck import analyze
from smcheck.analysis.critical import REL_TOL, UNSAFE, Search, Witness, scan_grid
from smcheck.report.model import Report
from smcheck.report.phrases import bisected_t
from smcheck.report.renderers import plain_text
from smcheck.report.temperaturetables import critical_rows
from smcheck.report.terminal.concise import build_summary
from tests.analysis.test_temperature import critical, unsafe
from tests.conftest import cell

LONG = np.full((1, 70000), -1.0)
"""70000 logits of -1: float16 naive fails at low T (0/0) and at high T (the sum overflows)."""

# Hand derivation, float16 naive on LONG (as tests/analysis/test_temperature.py's: the quotient
# -1 / T is taken in float32 and rounded to float16, exp rounds to float16, the sum of the 70000
# equal terms e is taken in float32 and overflows iff it reaches 65520):
# * high T: 70000 e >= 65520 iff e >= 1917/2048 (70000 * 1917/2048 = 65522.5; 1916/2048 gives
#   65488.3). float16 is spaced 2^-11 there, so e = 1917/2048 iff exp(q) > 1916.5/2048 (a tie
#   goes to the even 1916), iff q > ln(1916.5/2048) = -0.066364, iff q >= -1087/16384 (float16
#   is spaced 2^-14 in [1/16, 1/8)), iff 1/T < 1087.5/16384 (a tie goes to the even 1088):
#   unsafe iff T > 16384/1087.5 = 15.0657.
# * low T: every e is 0 (0/0: NaN) iff exp(q) <= 2^-25 (half the smallest subnormal; a tie goes
#   to 0), iff q <= -25 ln 2 = -17.3287, iff q <= -1110/64 (spaced 2^-6 in [16, 32)), iff
#   1/T >= 1109.5/64 (a tie goes to the even 1110): unsafe iff T <= 64/1109.5 = 0.0576836.
LONG_HIGH = 16384 / 1087.5
LONG_LOW = 64 / 1109.5


def test_search_below_a_failing_top_finds_the_safe_range_between_two_edges() -> None:
    # a stand-in property: unsafe below T = 0.01 and above T = 50, on one row
    def drive(s: Search) -> float | None:
        while (nxt := s.next_t()) is not None:
            t, full = nxt
            bad = t < 0.01 or t > 50
            s.tell(t, Witness(0, np.zeros(1), 1) if bad else None, full)
        return s.result

    grid = scan_grid((1.0,))
    low = drive(Search(UNSAFE, grid, want=True, below_top=True))
    high = drive(Search(UNSAFE, grid, want=False))
    assert low is not None and 0.01 <= low <= 0.01 * (1 + REL_TOL)
    assert high is not None and 50 / (1 + REL_TOL) <= high <= 50
    # without below_top, the failing top ends the search: unsafe at every T (the old reading)
    assert drive(Search(UNSAFE, grid, want=True)) == math.inf


def test_a_search_ends_where_no_float_lies_between_its_ends_or_their_product_overflows() -> None:
    # an edge among the smallest subnormal T (2e-13 / DBL_MAX = 1.1e-321) never got REL_TOL
    # close: a * 1.001 rounds back to a, the midpoint to one end, and the search ran on for
    # ever; near 1e300 the ends' product was inf, and so was the midpoint
    def drive(s: Search, edge: float) -> float | None:
        for _ in range(10_000):
            nxt = s.next_t()
            if nxt is None:
                return s.result
            t, full = nxt
            s.tell(t, Witness(0, np.zeros(1), 1) if t <= edge else None, full)
        raise AssertionError("the search did not end")

    low = scan_grid((1e-322, 1.0))
    got = drive(Search(UNSAFE, low, want=True), 1.107e-321)
    assert got is not None and 1.107e-321 < got <= 1.12e-321
    high = scan_grid((1e300, 1.0))
    got = drive(Search(UNSAFE, high, want=True), 3e299)
    assert got is not None and 3e299 < got <= 3e299 * (1 + REL_TOL)


def test_a_long_rows_safe_range_matches_the_hand_derivation() -> None:
    # `gen:constant:shape=1x70000,value=-1 --dtype fp16 --method naive --temperature
    # 0.5,20,1e-3` read "every T" beside cells safe at T = 0.5
    kw = {"dtypes": ["float16"], "methods": ["naive"], "gradients": False}
    r = analyze(LONG, temperatures=[1e-3, 0.5, 20], critical=True, **kw)
    c = critical(r, "naive", "float16")
    assert c.min_safe is not None and LONG_LOW < c.min_safe <= LONG_LOW * (1 + REL_TOL)
    assert (c.causes, c.min_safe_row) == (["nan"], (0,))
    assert c.max_safe is not None and LONG_HIGH / (1 + REL_TOL) <= c.max_safe < LONG_HIGH
    assert (c.max_safe_causes, c.max_safe_row) == (["sum_overflow"], (0,))
    assert c.advice == (
        "naive float16: below T≈0.05771 every exp(x/T) of a row underflows to 0 (0/0) -- use "
        "max-shifted softmax or torch.softmax, or clamp T to >= 0.05771; they fail at every "
        "scanned T too: with them, accumulate the sum in float32 (torch.log_softmax rounds its "
        "row sum to float16); above T≈15.06 the sum of exp(x/T) overflows float16 -- accumulate "
        "the sum in float32 (torch.log_softmax rounds its row sum to float16), or clamp T to "
        "<= 15.06"
    )  # use loss: torch's cells read its log_softmax, whose float16 row sum overflows too
    # the engine's own cells agree with the derivation on both sides of both edges
    temps = [0.05768, 0.05769, 15.065, 15.066]
    cells = analyze(LONG, temperatures=temps, critical=False, **kw)
    assert [unsafe(cell(cells, "naive", "float16", t)) for t in temps] == [
        True,
        False,
        False,
        True,
    ]


def safe_range_cells(r: Report, method: str, dtype: str, source: str) -> list[bool]:
    """Whether the engine's cells are unsafe just outside and at the ends of the safe range."""
    c = critical(r, method, dtype)
    assert c.min_safe is not None and c.max_safe is not None
    # the bisection's unsafe ends are within REL_TOL of its safe ends
    temps = [c.min_safe / (1 + REL_TOL), c.min_safe, c.max_safe, c.max_safe * (1 + REL_TOL)]
    kw = {"dtypes": [dtype], "methods": [method], "gradients": False}
    cells = analyze(source, temperatures=temps, critical=False, **kw)
    return [unsafe(cell(cells, method, dtype, t)) for t in temps]


def test_shifted_float16_on_long_normal_rows_is_safe_between_the_quotient_and_the_sum() -> None:
    # `gen:normal:shape=2x70000 --dtype fp16 --method shifted --temperature 0.5:50:5` read
    # "every T" (min_safe inf) beside five OK cells: the sum overflows at the scan's top only
    source = "gen:normal:shape=2x70000"
    kw = {"dtypes": ["float16"], "methods": ["shifted"], "gradients": False}
    temps = [float(t) for t in np.geomspace(0.5, 50, 5)]
    r = analyze(source, temperatures=temps, critical=True, **kw)
    c = critical(r, "shifted", "float16")
    assert not any(unsafe(cell(r, "shifted", "float16", t)) for t in temps)
    # x/T overflows float16 below max |x| / 65520: the largest logit, 4.73196, is 4.73046875 in
    # float16 (spaced 2^-8 in [4, 8))
    edge = 4.73046875 / 65520
    assert c.min_safe is not None and edge < c.min_safe <= edge * (1 + REL_TOL)
    assert c.causes == ["temperature_overflow", "nan"]
    assert c.max_safe is not None and 50 < c.max_safe < 1e3
    assert c.max_safe_causes == ["sum_overflow"]
    assert safe_range_cells(r, "shifted", "float16", source) == [True, False, False, True]


def test_a_method_safe_down_to_the_scans_bottom_reads_only_its_ceiling() -> None:
    # one 0 and 69999 logits of -0.0625 (exact in float16): shifted's sum is 1 + 69999 e, e the
    # float16 exp(q) of q = -0.0625 / T, which overflows iff e >= 1917/2048 (65522.5; 1916/2048
    # gives 65488.4), iff q >= -1087/16384 as for LONG above: unsafe iff T > 1024/1087.5 =
    # 0.94161. At T = 1e-6, -0.0625 / T = -62500 is finite in float16: safe down to the bottom.
    x = np.full((1, 70000), -0.0625)
    x[0, 0] = 0.0
    kw = {"dtypes": ["float16"], "methods": ["shifted"], "gradients": False}
    r = analyze(x, critical=True, **kw)
    c = critical(r, "shifted", "float16")
    assert (c.min_safe, c.min_safe_row, c.causes) == (None, None, [])
    edge = 1024 / 1087.5
    assert c.max_safe is not None and edge / (1 + REL_TOL) <= c.max_safe < edge
    assert (c.max_safe_causes, c.max_safe_row) == (["sum_overflow"], (0,))
    # 0.94067 <= max_safe < 0.94161, rounded down: this bisection's end is 0.94109
    assert bisected_t(c.max_safe, REL_TOL, up=False) == "0.941"
    assert c.advice == (
        "shifted float16: above T≈0.941 the sum of exponentials overflows float16 (a long row of "
        "similar logits) -- accumulate the sum in float32 (torch.log_softmax rounds its row sum "
        "to float16), or clamp T to <= 0.941"
    )  # use loss: torch's cells read its log_softmax, whose float16 row sum overflows too
    ta = r.sources[0].temperature
    assert ta is not None
    (row,) = critical_rows(ta)
    assert row[:5] == ("shifted", "float16", "1e-06, <= 0.941", "sum overflow above", "[0] above")
    # the verdict grid: the T = 1 cell FAILs (1 > 0.94161), and nothing fails below
    lines = plain_text(build_summary(r), width=120).splitlines()
    assert [ln.split(None, 3) for ln in lines if ln.startswith("shifted ")] == [
        ["shifted", "float16", "F", "above ≈0.941"]
    ]
