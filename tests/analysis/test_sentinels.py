"""Mask sentinels: detection, and what each format does to them (-inf, overflow, weak)."""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from rich.console import Console

from smcheck import analyze
from smcheck.analysis.sentinels import KNOWN_SENTINELS, MAX_REPEATED, classify
from smcheck.cli import cli
from smcheck.errors import ExitCode
from smcheck.report.maskmodel import Sentinel
from smcheck.report.terminal.tables import build_tables

F16_MIN = -65504.0
F32_MIN = float(torch.finfo(torch.float32).min)


def keys_of(row: list[float]) -> list[float | None]:
    keys, _ = classify(np.array([row]))
    return [None if math.isnan(k) else float(k) for k in keys[0]]


def sentinel(src, value: float) -> Sentinel:  # type: ignore[no-untyped-def]
    (s,) = [s for s in src.input.sentinels if s.value == value]
    return s


def test_known_values_include_every_formats_min() -> None:
    known = dict(KNOWN_SENTINELS)
    for dtype in (torch.float16, torch.bfloat16, torch.float32, torch.float64):
        assert float(torch.finfo(dtype).min) in known
    assert {-1e4, -1e9, -1e10} <= set(known)


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        # known values, exactly and as sentinel + score, far below the row's logits
        ([F16_MIN, F16_MIN - 20, 0.0, 1.0], [F16_MIN, F16_MIN, None, None]),
        ([-1e9, 3.0, -1e9 + 7], [-1e9, None, -1e9]),
        # float32 stores -3.4e38 as -3.3999999521e38: still the -3.4e38 sentinel, not f32 min
        ([float(np.float32(-3.4e38)), 0.0], [-3.4e38, None]),
        ([F32_MIN, 0.0], [F32_MIN, None]),
        # a row made only of sentinels (a padding row)
        ([-1e4, -1e4], [-1e4, -1e4]),
        # -9850 is within 2^-6 of -1e4 but also within 20 nats of the logit -9840 (which is
        # not): a logit, not a mask
        ([-1e4, -9850.0, -9840.0], [-1e4, None, None]),
        # a repeated row minimum far below the rest
        ([-5000.0, 1.0, -5000.0, 2.0], [-5000.0, None, -5000.0, None]),
        ([-300.0, -300.0, -290.0, 0.0], [-300.0, -300.0, None, None]),
        # not sentinels: once only (the -999 example), too small, no logit far above, constant
        ([-999.0, 1.0, 2.0, 5.0, 6.0], [None] * 5),
        ([-50.0, -50.0, 1.0], [None] * 3),
        ([-500.0, -500.0, -490.0], [None] * 3),
        ([-500.0, -500.0], [None] * 2),
        ([-np.inf, np.nan, 1.0], [None] * 3),
    ],
)
def test_classify(row: list[float], expected: list[float | None]) -> None:
    assert keys_of(row) == expected


def test_issue8_float16_sentinel_plus_score_overflow() -> None:
    # -65504 - 20 = -65524 is at or below -65520, the midpoint between float16's max and 2^16,
    # so it rounds to -inf; -65504 - 15 = -65519 rounds to -65504. -65520 itself ties to even
    # (65504 = 2047 * 32 has an odd significand) and overflows: s <= -16 overflows.
    x = np.array([[F16_MIN - 20, 0.0], [F16_MIN - 15, 0.0], [F16_MIN - 16, 0.0]])
    src = analyze(x).sources[0]
    s = sentinel(src, F16_MIN)
    assert (s.elements, s.rows, s.exact_elements, s.min, s.max) == (3, 3, 0, -65524.0, -65519.0)
    casts = {c.dtype: c for c in s.casts}
    assert casts["float16"].representable
    assert (casts["float16"].to_neginf.elements, casts["float16"].to_neginf.rows) == (2, 2)
    assert casts["float16"].to_neginf.worst_row == (0,)
    for d in ("bfloat16", "float32", "float64"):  # bfloat16 rounds -65524 to -65536: finite
        assert casts[d].to_neginf.elements == 0, d
    (f,) = [f for f in src.input.findings if f.kind == "sentinel_overflow"]
    assert f.severity == "INFO" and f.dtype == "float16"
    assert f.message.startswith(
        "sentinel + score overflows to -inf in float16: 2 entries near mask sentinel -65504 "
        "(torch.finfo(torch.float16).min) are at or below -65520 (down to -65524) in 2 rows "
        "(first row [0])"
    )
    # the masked entry is still p = 0 and the row is judged normally
    for c in src.cells:
        assert c.metrics.nan.elements == 0 and c.metrics.rows_checked == 3


def test_sentinel_not_representable_in_float16() -> None:
    # -1e9 is far beyond float16's range: -inf there; float32 holds it exactly (1e9 = 2^9 * 5^9)
    x = np.array([[-1e9, -1e9, 0.0, 1.0], [-1e9, -1e9, -1e9, -1e9]])
    src = analyze(x).sources[0]
    s = sentinel(src, -1e9)
    assert (s.elements, s.rows, s.exact_elements) == (6, 2, 6)
    casts = {c.dtype: (c.representable, c.to_neginf.elements) for c in s.casts}
    assert casts == {
        "float16": (False, 6),
        "bfloat16": (True, 0),
        "float32": (True, 0),
        "float64": (True, 0),
    }
    kinds = [(f.kind, f.severity, f.dtype) for f in src.input.findings]
    # the all-sentinel row 1 turns into a fully masked row in float16
    assert ("became_fully_masked", "WARN", "float16") in kinds
    assert ("sentinel_unrepresentable", "INFO", "float16") in kinds
    # in float32 row 1 is finite: shifted gives the uniform distribution, naive 0/0
    cells = {(c.method, c.dtype): c for c in src.cells}
    assert cells[("shifted", "float32")].probabilities[1] == [0.25] * 4
    assert cells[("naive", "float32")].metrics.nan.elements == 4


def test_sentinel_entries_are_masks_for_the_method_metrics() -> None:
    # log(softmax) of a masked entry is -inf; with -1e4 as a mask that is intended, not a fault
    # (forward metrics: the log(softmax) gradient is NaN there: tests/analysis/test_gradients.py)
    x = np.array([[-1e4, -1e4, 1.0, 2.0]])
    for c in analyze(x, gradients=False).cells:
        assert c.metrics.log_nonfinite.elements == 0, c
        assert c.verdict.value == "OK", c.reasons
    # the same entries as ordinary logits (once each, no sentinel) are charged
    y = np.array([[-9000.0, 1.0, 2.0]])
    naive = next(c for c in analyze(y).cells if c.method == "naive")
    assert naive.metrics.log_nonfinite.elements == 1


def test_weak_sentinel_at_high_temperature() -> None:
    # -1e4 / 1000 = -10 next to logits 0, 0: the two masked entries keep
    # 2e^-10 / (2 + 2e^-10) = 1 / (1 + e^10) = 4.5397868702434395e-05 (mpmath, 17 digits).
    # Above float32's u = 2^-24 and float64's 2^-53, below float16's 2^-11 and bfloat16's 2^-8.
    x = np.array([[-1e4, -1e4, 0.0, 0.0]])
    src = analyze(x, temperatures=[1, 1000], gradients=False).sources[0]
    s = sentinel(src, -1e4)
    weak = {(e.dtype, e.temperature): e.weak.rows for e in s.effects}
    assert weak == {
        (d, t): int(t == 1000 and d in ("float32", "float64"))
        for d in ("float16", "bfloat16", "float32", "float64")
        for t in (1.0, 1000.0)
    }
    leak = {(e.dtype, e.temperature): e.leak.max for e in s.effects}
    assert leak[("float64", 1000.0)] == pytest.approx(4.5397868702434395e-05, rel=1e-12)
    assert leak[("float32", 1.0)] == 0.0
    (f,) = [f for f in src.input.findings if f.kind == "sentinel_weak"]
    assert f.severity == "WARN"
    assert f.message.startswith(
        "mask sentinel -10000 (BERT-style additive attention mask) is too weak to mask in "
        "float32 and float64 at T=1000"
    )
    assert src.verdict.value == "WARN"


def test_dividing_by_t_turns_a_sentinel_into_neginf() -> None:
    # -65504 / 0.5 = -131008: -inf in float16, finite everywhere else
    x = np.array([[F16_MIN, 0.0, 1.0]])
    src = analyze(x, temperatures=[1, 0.5]).sources[0]
    s = sentinel(src, F16_MIN)
    neg = {(e.dtype, e.temperature): e.to_neginf.elements for e in s.effects}
    assert neg[("float16", 0.5)] == 1 and neg[("float16", 1.0)] == 0
    assert neg[("float32", 0.5)] == 0
    (f,) = [f for f in src.input.findings if f.kind == "sentinel_scaled_to_neginf"]
    assert "into -inf in float16 at T=0.5" in f.message


def test_repeated_sentinels_keep_the_most_negative() -> None:
    # MAX_REPEATED + 4 distinct repeated minima; the most negative MAX_REPEATED are reported,
    # whatever the chunking
    n = MAX_REPEATED + 4
    x = np.zeros((n, 4))
    x[:, :2] = -(1000.0 + np.arange(n))[:, None]
    whole = analyze(x, dtypes=["float32"], methods=["shifted"], chunk_rows=100)
    values = [s.value for s in whole.sources[0].input.sentinels]
    assert values == sorted(-(1000.0 + np.arange(n)))[:MAX_REPEATED]
    assert all(
        s.detected == "repeated" and s.label is None for s in whole.sources[0].input.sentinels
    )
    for chunk in (1, 3, 7):
        again = analyze(x, dtypes=["float32"], methods=["shifted"], chunk_rows=chunk)
        assert again.to_dict() == whole.to_dict(), chunk


# the input findings only: the gradients and critical temperatures have chunk tests of their own
MIXED_KW = {
    "temperatures": [1, 0.5, 300],
    "dtypes": ["float16", "bfloat16", "float32"],
    "gradients": False,
    "critical": False,
}


@pytest.fixture(scope="module")
def mixed_sentinels() -> tuple[np.ndarray, dict]:
    """Rows with every kind of sentinel, -inf and NaN, and their report in one chunk."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(24, 8)) * 3
    x[rng.random(x.shape) < 0.2] = F16_MIN
    x[3] = -1e9
    x[5, :2] = -1e9
    x[7] = -np.inf
    x[9, 1] = np.nan
    x[13, :3] = F16_MIN - 30
    x[15, :4] = -5000.0
    x[18, :2] = -1e4
    x[20] = F32_MIN
    return x, analyze(x, chunk_rows=100, **MIXED_KW).to_dict()


@pytest.mark.parametrize("chunk_rows", [1, 3, 7])
def test_sentinel_findings_do_not_depend_on_chunk_size(
    mixed_sentinels: tuple[np.ndarray, dict], chunk_rows: int
) -> None:
    x, whole = mixed_sentinels
    assert len(whole["sources"][0]["input"]["sentinels"]) == 5
    assert analyze(x, chunk_rows=chunk_rows, **MIXED_KW).to_dict() == whole


def test_sentinels_in_json_and_table() -> None:
    r = CliRunner().invoke(
        cli,
        ["analyze", "--values", "-65524,0;-1e9,-1e9;-1e4,3", "--dtype", "fp16,f32", "-v"],
        catch_exceptions=False,
    )
    assert r.exit_code == ExitCode.OK, r.output
    out = r.stdout
    assert "Mask sentinels" in out and "Input findings" in out
    assert "finfo(float16).min" in out and "1 -> -inf" in out
    assert "INFO sentinel + score overflows to -inf in float16" in out
    j = CliRunner().invoke(
        cli, ["analyze", "--values", "-65524,0", "--format", "json"], catch_exceptions=False
    )
    (s,) = json.loads(j.stdout)["sources"][0]["input"]["sentinels"]
    assert s["value"] == -65504.0 and s["detected"] == "known"
    assert s["label"] == "torch.finfo(torch.float16).min"
    assert list(s) == [
        "value",
        "label",
        "detected",
        "elements",
        "rows",
        "worst_row",
        "exact_elements",
        "min",
        "max",
        "casts",
        "effects",
    ]


def test_table_renders_without_colour() -> None:
    report = analyze(np.array([[-1e9, -1e9, 1.0], [-np.inf] * 3]), dtypes=["float16"])
    console = Console(width=100, file=io.StringIO(), color_system=None, legacy_windows=False)
    for r in build_tables(report):
        console.print(r)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "WARN 1 fully masked row" in text
    assert (
        "INFO mask sentinel -1e9 (common masked_fill value) is not representable in float16" in text
    )
