"""Mask sentinels: detection, and what each format does to them (-inf, overflow, weak)."""

from __future__ import annotations

import io
import json
import math
import re

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from rich.console import Console

from smcheck import analyze
from smcheck.analysis.sentinels import KNOWN_SENTINELS, USER_LABEL, classify
from smcheck.cli import cli
from smcheck.errors import ExitCode
from smcheck.report.maskmodel import Sentinel
from smcheck.report.terminal.masks import fate
from smcheck.report.terminal.tables import build_tables

F16_MIN = -65504.0
F32_MIN = float(torch.finfo(torch.float32).min)


def keys_of(row: list[float], mask_value: float | None = None) -> list[float | None]:
    keys, _ = classify(np.array([row]), mask_value)
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
        # a row made only of sentinels (a padding row), one mask value exactly, -inf beside
        ([-1e4, -1e4], [-1e4, -1e4]),
        ([-1e9, -np.inf, -1e9], [-1e9, None, -1e9]),
        # a row of nothing else whose entries are not one exact mask value is logits: sequence
        # scores near -1e4 (each within 2^-6 of it) have a peaked, meaningful softmax
        ([-10012.5, -9990.25, -10003.75], [None] * 3),
        ([-1e9 + 7, -1e9 + 7], [None] * 2),
        ([-1e9, -1e4, -1e9], [None] * 3),
        # -9850 is within 2^-6 of -1e4 but also within 20 nats of the logit -9840 (which is
        # not): a logit, not a mask
        ([-1e4, -9850.0, -9840.0], [-1e4, None, None]),
        # not sentinels: tied low logits, however far below the rest (ordinary logits: no
        # value is a mask unless it is -inf, a known mask value or the one the user names)
        ([-5000.0, 1.0, -5000.0, 2.0], [None] * 4),
        ([-300.0, -300.0, -290.0, 0.0], [None] * 4),
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
        "(worst row [0])"
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


def test_input_rounding_leaves_sentinel_entries_out() -> None:
    # -1e4 is -9984 in bfloat16 (16 nats of its own log p), -65504 is -65536 (32), -1e9 is
    # -inf in float16: masks, as -inf is; the logits 1 and 2 are exact in both formats
    for mask, dtype in ((-1e4, "bfloat16"), (-65504.0, "bfloat16"), (-1e9, "float16")):
        (r,) = analyze(np.array([[1.0, 2.0, mask, mask]]), dtypes=[dtype]).sources[0].input_rounding
        assert (r.exact, r.changed_elements, r.max_abs_dlogp, r.kl_max) == (True, 0, 0.0, 0.0)
        assert r.cast_overflow.elements == 0
    # a logit the cast does change is still counted, its Δlog p the same as without the mask
    x = np.array([[-999.0, 1, 2, 5, 6, -1e4]])
    (r,) = analyze(x, dtypes=["bfloat16"]).sources[0].input_rounding
    assert r.changed_elements == 1  # -999 -> -1000
    assert r.max_abs_dlogp == pytest.approx(1.0)


def test_formats_table_says_input_dlogp_leaves_the_mask_out() -> None:
    args = ["analyze", "--values", "1,2,-10000,-10000", "--dtype", "bf16", "--method", "torch"]
    r = CliRunner().invoke(cli, [*args, "-v"], catch_exceptions=False)
    lines = r.stdout.splitlines()
    row = lines[lines.index("Formats") + 4]
    assert row.split() == ["bfloat16", "1", "88.7209", "86.4", "91.6", "exact", "0"]
    table = r.stdout.split("Formats")[1].split("Faults")[0]
    caption = " ".join(table[table.index("rows:") :].split())
    assert caption == (
        "rows: each format; the rooms are the worst row's; input Δlog p, cast ±inf: what the "
        "cast does to the logits (mask sentinels left out)"
    )
    j = CliRunner().invoke(cli, [*args, "--format", "json"], catch_exceptions=False)
    (rounding,) = json.loads(j.stdout)["sources"][0]["input_rounding"]
    assert (rounding["max_abs_dlogp"], rounding["changed_elements"]) == (0.0, 0)


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


def test_a_leak_within_u_that_the_format_holds_is_not_called_ok() -> None:
    # the same -1e4 at T = 1000: float16's 4.5e-5 is below its u (no WARN) but torch.softmax in
    # float16 puts it on the masked keys all the same; the table and input line said "ok"
    x = np.array([[-1e4, -1e4, 0.0, 0.0]])
    s = sentinel(analyze(x, temperatures=[1000], gradients=False).sources[0], -1e4)
    assert fate(s, "float16") == "leaks 4.5e-05 <= u"
    assert fate(s, "float32") == "leaks 4.5e-05"  # over u: the sentinel_weak WARN
    p = torch.softmax(torch.tensor(x, dtype=torch.float16) / 1000, -1)
    assert p[0, :2].sum().item() == pytest.approx(4.54e-05, rel=1e-2)
    # at T = 1 the leak e^-10000 is 0; -30 (--mask-value) keeps e^-30 = 9.4e-14, which rounds
    # to 0 in float16 (ok there) but not in float32 (within its u)
    s = sentinel(analyze(x, gradients=False).sources[0], -1e4)
    assert {fate(s, d) for d in ("float16", "float32")} == {"ok"}
    y = np.array([[-30.0, 0.0]])
    s = sentinel(analyze(y, gradients=False, mask_value=-30).sources[0], -30.0)
    assert (fate(s, "float16"), fate(s, "float32")) == ("ok", "leaks 9.4e-14 <= u")


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


def test_sentinel_findings_name_the_row_with_the_most_entries_worst_not_first() -> None:
    # the row given is CountStat's, the one with the most such entries: "(first row [1])" of
    # two rows was false where row 0 holds one entry and row 1 two; one row is "row [0]"
    x = np.array([[F16_MIN - 20, 0.0, 1.0], [F16_MIN - 20, F16_MIN - 30, 1.0]])
    (f,) = [f for f in analyze(x).sources[0].input.findings if f.kind == "sentinel_overflow"]
    assert "in 2 rows (worst row [1]) -- " in f.message
    (f,) = [f for f in analyze(x[1:]).sources[0].input.findings if f.kind == "sentinel_overflow"]
    assert "in 1 row (row [0]) -- " in f.message
    x = np.array([[F16_MIN, 0.0, 1.0], [F16_MIN, F16_MIN, 1.0]])
    found = analyze(x, temperatures=[1, 0.5]).sources[0].input.findings
    (f,) = [f for f in found if f.kind == "sentinel_scaled_to_neginf"]
    assert "into -inf in float16 at T=0.5 (worst row [1]) -- " in f.message
    # over two temperatures the row is the first one's (in ascending T): it says so
    found = analyze(x, temperatures=[0.5, 0.25]).sources[0].input.findings
    (f,) = [f for f in found if f.kind == "sentinel_scaled_to_neginf"]
    assert "(worst row [1] in float16 at T=0.25) -- " in f.message


def test_tied_low_logits_are_logits_and_their_infinite_loss_shows() -> None:
    # -5000 twice, 5001 nats below the top: exact p = e^-5002 / (1 + e^-1 + 2e^-5001), far below
    # float32's smallest subnormal, so p rounds to 0 and log(softmax) gives an infinite loss for
    # that target. It used to be read as a mask (and the row's target skipped); now it shows.
    x = np.array([[-5000.0, 1.0, -5000.0, 2.0]])
    targets = np.array([0])
    src = analyze(x, dtypes=["float32"], methods=["naive", "torch"], targets=targets).sources[0]
    assert src.input.sentinels == []
    cells = {c.method: c for c in src.cells}
    assert cells["naive"].gradient.masked_target_rows == 0
    assert cells["naive"].gradient.loss_inf.rows == 1
    assert cells["naive"].metrics.log_nonfinite.elements == 2
    assert cells["torch"].gradient.loss_inf.rows == 0  # log_softmax: -5002.31..., finite
    assert cells["torch"].gradient.loss_error.max_abs == pytest.approx(0.0, abs=1e-3)


def test_mask_value_names_a_sentinel() -> None:
    # the same row, masked on purpose with -5000: the user names the value, and it is a mask
    x = np.array([[-5000.0, 1.0, -5000.0, 2.0], [-5000.0, -4990.0, -5010.0, 0.0]])
    rep = analyze(
        x,
        dtypes=["float32"],
        methods=["naive"],
        targets=np.array([0, 0]),
        mask_value=-5000,
        use="loss",  # auto would read the named mask as attention weights: no loss
    )
    src = rep.sources[0]
    (s,) = src.input.sentinels
    assert (s.value, s.detected, s.label) == (-5000.0, "user", USER_LABEL)
    # -4990 and -5010 lie within 2^-6 of -5000 and 20+ nats below the logit 0: sentinel + score
    assert (s.elements, s.exact_elements, s.min, s.max) == (5, 3, -5010.0, -4990.0)
    (c,) = src.cells
    assert c.metrics.log_nonfinite.elements == 0
    assert c.gradient.masked_target_rows == 2
    # a known value named again is reported as the user's, with its known label
    (k,) = analyze([[-1e9, 1.0]], mask_value=-1e9, dtypes=["float32"]).sources[0].input.sentinels
    assert (k.detected, k.label) == ("user", "common masked_fill value")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mask_value": 0.0}, "mask value 0.0 is not a finite negative number"),
        ({"mask_value": float("-inf")}, "is not a finite negative number"),
        (
            {"mask_value": -1e4, "softmin": True},
            "not a finite positive number; give the value the input masks with, e.g. 1e4 "
            "(softmin negates the input; +inf is a mask already)",
        ),
    ],
)
def test_mask_value_must_be_a_finite_number_on_the_masking_side(kwargs: dict, message: str) -> None:
    from smcheck.errors import ConfigError

    with pytest.raises(ConfigError, match=re.escape(message)):
        analyze([[1.0, 2.0]], **kwargs)


def test_mask_value_option_and_policy_key(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    np.save(tmp_path / "x.npy", np.array([[-300.0, -300.0, 0.0, 1.0]]))
    r = CliRunner().invoke(
        cli,
        ["analyze", "x.npy", "--mask-value", "-300", "--format", "json"],
        catch_exceptions=False,
    )
    assert r.exit_code == 0, r.output
    (s,) = json.loads(r.stdout)["sources"][0]["input"]["sentinels"]
    assert (s["value"], s["detected"], s["elements"]) == (-300.0, "user", 2)
    (tmp_path / "smcheck.toml").write_text("mask-value = -300\n")
    r = CliRunner().invoke(cli, ["check", "x.npy", "--format", "json"], catch_exceptions=False)
    (s,) = json.loads(r.stdout)["sources"][0]["input"]["sentinels"]
    assert s["detected"] == "user"
    (tmp_path / "smcheck.toml").write_text("mask-value = 'low'\n")
    r = CliRunner().invoke(cli, ["check", "x.npy"])
    assert r.exit_code == 2 and "expected a number" in r.output


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
    x[15, :4] = -5000.0  # tied low logits: not a sentinel
    x[18, :2] = -1e4
    x[20] = F32_MIN
    return x, analyze(x, chunk_rows=100, **MIXED_KW).to_dict()


@pytest.mark.parametrize("chunk_rows", [1, 3, 7])
def test_sentinel_findings_do_not_depend_on_chunk_size(
    mixed_sentinels: tuple[np.ndarray, dict], chunk_rows: int
) -> None:
    x, whole = mixed_sentinels
    assert len(whole["sources"][0]["input"]["sentinels"]) == 4
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


class _NoP:
    """A reference whose p must not be read (a double-double p is built in long double)."""

    @property
    def p(self) -> np.ndarray:
        raise AssertionError("p read for a chunk without sentinels")


def test_a_chunk_without_sentinels_never_reads_the_reference_p() -> None:
    from smcheck.analysis.sentinels import SentinelAccumulator
    from smcheck.dtypes import get_format

    acc = SentinelAccumulator()
    x = np.array([[0.0, 1.0, -2.0], [3.0, -np.inf, 1.0]])
    chunk = acc.add_source(x, np.ones(2, dtype=bool), 0)
    assert chunk.present == []
    acc.add_format(chunk, get_format("float64"), 1.0, np.isneginf(x), _NoP(), np.ones(2, bool))  # type: ignore[arg-type]
    # with a sentinel present the leak is read from p
    y = np.array([[0.0, 1.0, -1e9]])
    chunk = acc.add_source(y, np.ones(1, dtype=bool), 0)
    with pytest.raises(AssertionError, match="p read"):
        acc.add_format(chunk, get_format("float64"), 1.0, np.isneginf(y), _NoP(), np.ones(1, bool))  # type: ignore[arg-type]
