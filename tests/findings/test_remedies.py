"""The remedy registry: each remedy, applied, clears its finding; none advises what is in use."""

from __future__ import annotations

import dataclasses
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch

import smcheck
from smcheck.dtypes import holding
from smcheck.findings import remedies, remedytexts, settling
from smcheck.findings.conditionreaders import cell_remedy
from smcheck.findings.policyconditions import parse_condition
from smcheck.findings.remedies import CELL_REMEDIES, candidates, choose
from smcheck.findings.remedytexts import SUM_OR_TORCH
from smcheck.findings.settling import settle, source_situation
from smcheck.findings.situation import Situation
from smcheck.findings.temperature import advice
from smcheck.methods import METHODS
from smcheck.report.markdown import report_markdown
from smcheck.report.model import Cell

FORMATS = ("float16", "bfloat16", "float32", "float64")
MNIST = Path(__file__).parents[2] / "sample_inputs" / "mnist_cnn_presoftmax_2500x10.npy"


def _cell(x: np.ndarray, method: str, dtype: str, **kw) -> Cell:
    """The one cell ``method`` × ``dtype`` of ``x`` (kw: temperatures, model, targets, ...)."""
    return smcheck.analyze(x, methods=[method], dtypes=[dtype], **kw).sources[0].cells[0]


def _causes(cell: Cell) -> set[str]:
    return {f.cause for f in cell.findings}


def _mnist_row(i: int) -> np.ndarray:
    return np.load(MNIST)[i : i + 1].astype(np.float64)


def _naive(x: torch.Tensor) -> torch.Tensor:
    """A remedy applied in torch: softmax written out, exp(x) / sum, in x's format."""
    e = torch.exp(x)
    return e / e.sum(-1, keepdim=True)


def _shifted(x: torch.Tensor) -> torch.Tensor:
    return _naive(x - x.amax(-1, keepdim=True))


# (cause, input, keywords, the cell that shows the cause); each input is the smallest we found
APPLIED = [
    ("temperature-overflow", [[1000.0, 0.0, -1.0]], {"temperatures": [0.01]}, "torch", "float16"),
    ("temperature-overflow", [[1e37, 0.0]], {"temperatures": [0.01]}, "shifted", "float32"),
    ("exp-overflow", [[12.0, 1.0, 0.0]], {}, "naive", "float16"),
    ("sum-overflow", [[10.0, 10.0, 10.0]], {}, "naive", "float16"),
    ("sum-overflow", np.zeros((1, 70000)), {}, "naive", "float16"),  # longer than float16's max
    ("sum-overflow", np.zeros((1, 70000)), {}, "shifted", "float16"),
    ("sum-overflow", [[88.5, 88.5, 0.0]], {}, "naive", "float32"),  # torch sums float32 in it
    ("probability-nan", [[12.0, 1.0, 0.0]], {}, "naive", "float16"),
    ("log-of-zero", [[0.0, -20.0, -1.0]], {}, "shifted", "float16"),
    ("log-of-zero", [[0.0, -20.0, -1.0]], {"model": "strict"}, "naive", "float16"),
    ("underflow", "mnist:1", {}, "shifted", "float16"),
    # exp rounds the top two to a tie that the correctly rounded p (0.42236, 0.42261) breaks
    ("argmax-flip", [[0.00146484375, 0.001953125, -1.0]], {}, "naive", "float16"),
    ("normwise-error", [[-16.0, -16.4]], {}, "naive", "float16"),  # subnormal exps: 227u
    ("normwise-error", [[1e4, 1e4 - 1e-3, 0.0]], {}, "lse-direct", "float32"),
    ("loss-inf", [[0.0, -20.0, -1.0]], {"targets": "argmin"}, "naive", "float16"),
    ("loss-nan", [[12.0, 1.0, 0.0]], {}, "naive", "float16"),
    ("gradient-nan", [[0.0, -np.inf, 1.0]], {"use": "loss"}, "shifted", "float32"),
    # float16 backward of exp(x) / s, s = 52192: 1/s and 1/(p_t s) subnormal, cancelling to 0
    ("dead-gradient", "mnist:1913", {}, "naive", "float16"),
    # the logsumexp 9.2747 rounds onto the top logit 9.27: p_t = exp(0) = 1, 1 - p_t = 0.0026
    ("dead-gradient", [[0.15, 9.27, 3.27, -3.03]], {}, "lse-direct", "float16"),
    (
        "dead-gradient",
        [[11.0625, 2.875, 2.955, -2.45]],
        {"temperatures": [0.5]},
        "torch",
        "float16",
    ),
    ("saturation", [[12.0, 1.0, 0.0]], {}, "torch", "float16"),
    ("stall", np.zeros((1, 4096)), {"model": "strict"}, "shifted", "float16"),
    ("vacuous-bound", np.zeros((1, 4096)), {"model": "strict"}, "shifted", "float16"),
    ("algorithm-error", [[1e4, 1e4 - 1e-3, 0.0]], {}, "lse-direct", "float32"),
]


@pytest.mark.parametrize(
    ("cause", "values", "kw", "method", "dtype"),
    APPLIED,
    ids=[f"{a[0]}-{a[3]}-{a[4]}" for a in APPLIED],
)
def test_each_remedy_applied_clears_its_finding(cause, values, kw, method, dtype) -> None:
    x = _mnist_row(int(values[6:])) if isinstance(values, str) else np.asarray(values, float)
    assert cause in _causes(_cell(x, method, dtype, **kw))
    fix = choose(cause, method, dtype, model=kw.get("model", "framework"))
    assert fix.fix, f"{cause} in {method} {dtype} names no cell to switch to: {fix.text!r}"
    after = _cell(x, fix.method or method, fix.dtype or dtype, **kw)
    assert cause not in _causes(after), f"{fix.text!r} leaves {cause}"


def test_a_wide_formats_sum_overflow_is_fixed_by_the_shift_not_a_wider_sum() -> None:
    # torch sums float32 and float64 rows in the format: "its kernel never rounds the row sum
    # to the format" is true of 16-bit formats only; in float32 the shift is the fix
    for dtype, x in (("float32", [[88.5, 88.5, 0.0]]), ("float64", [[709.78, 709.7, 0.0]])):
        cell = _cell(np.asarray(x), "naive", dtype)
        (f,) = [f for f in cell.findings if f.cause == "sum-overflow"]
        assert f.remedy == remedytexts.MAX_SHIFTED, dtype
    assert choose("sum-overflow", "naive", "float16").text == remedytexts.TORCH_SUM


def test_every_cause_the_verdicts_name_has_a_chooser() -> None:
    src = Path(remedies.__file__).parent
    text = (src / "verdicts.py").read_text() + (src / "errorbounds.py").read_text()
    named = set(re.findall(r"(?:fail|warn)\(\s*\"([a-z-]+)\"", text))
    assert len(named) >= 15 and named <= set(CELL_REMEDIES)


_ADVISES_METHOD = {
    remedytexts.MAX_SHIFTED: {"shifted", "logdomain", "torch", "lse-direct", "online"},
    remedytexts.SHIFTED_ONLY: {"shifted", "logdomain", "torch", "lse-direct", "online"},
    remedytexts.LOG_SOFTMAX: {"logdomain", "torch", "lse-direct"},
    remedytexts.LSE_SUBTRACT_MAX: {"logdomain", "torch"},
}
"""Advice that names a way of computing, and the methods that already compute that way."""


@pytest.mark.parametrize("model", ["framework", "strict"])
def test_no_remedy_advises_what_is_in_use(model: str) -> None:
    checked = 0
    for cause in CELL_REMEDIES:
        for method in METHODS:
            for dtype in FORMATS:
                for use in ("probs", "logprobs", "loss"):
                    for masked in (False, True):
                        s = Situation(method, dtype, use, model, masked)
                        for r in candidates(cause, s):
                            checked += 1
                            where = f"{cause} / {method} {dtype} {use} {model}: {r.text!r}"
                            assert r.method != method and r.dtype != dtype, where
                            assert f"in {dtype}" not in r.text, where
                            for advice_, in_use in _ADVISES_METHOD.items():
                                assert not (r.text.startswith(advice_) and method in in_use), where
                            if r.dtype:  # only ever a wider format
                                assert FORMATS.index(r.dtype) > FORMATS.index(dtype), where
                                assert dtype != "bfloat16" or r.dtype != "float16", where
                            if r.method and model == "strict":  # a method the model can run
                                assert METHODS[r.method].strict is not None, where
                            if model == "framework":  # torch sums 16-bit formats in float32
                                assert "accumulate the sum" not in r.text, where
    assert checked > 1000


def test_one_spelling_per_remedy() -> None:
    texts = {
        r.text
        for cause in CELL_REMEDIES
        for method in METHODS
        for dtype in FORMATS
        for r in candidates(cause, Situation(method, dtype))
    }
    # one sentence per idea: the same remedy is never spelled with and without "the", "max-"
    stems = [re.sub(r"\b(the|max-|a|an)\b ?", "", t) for t in texts]
    assert len(set(stems)) == len(stems)
    assert all("wider format" not in t for t in texts), "a remedy names the format to switch to"


def test_a_switch_seen_to_fail_is_not_advised() -> None:
    # [1000, 0, -1] / 0.01 overflows float16 as x/T: naive NaNs in float16 whatever the method,
    # and in float32 whatever the format but shifted -- the remedy needs both
    x = np.array([[1000.0, 0.0, -1.0]])
    report = smcheck.analyze(x, temperatures=[0.01], dtypes=["float16", "float32"])
    cells = {(c.method, c.dtype): c for c in report.sources[0].cells}
    naive = cells["naive", "float16"]
    (i,) = [i for i, f in enumerate(naive.findings) if f.cause == "probability-nan"]
    assert naive.findings[i].fix == {"method": "shifted", "dtype": "float32"}
    assert "probability-nan" not in _causes(cells["shifted", "float32"])
    assert naive.reasons[i].endswith("-- use max-shifted softmax or torch.softmax, in float32")
    # [12, 1, 0]: the top probability rounds to 1 in float16 and float32, not in float64
    report = smcheck.analyze(np.array([[30.0, 1.0, 0.0]]), methods=["torch"])
    got = {c.dtype: f.fix for c in report.sources[0].cells for f in c.findings}
    assert got["float16"] == got["float32"] == {"dtype": "float64"}


def test_naive_is_not_sent_where_its_x_over_t_or_exp_overflows_too() -> None:
    # [1000, 0, -1] / 0.01 with naive alone in float16: x/T = 1e5 is +inf in float16 (the shift
    # there NaNs too) and exp(1e5) overflows float32 and float64: only the shift in float32
    # helps, though no cell of it was analysed
    x = np.array([[1000.0, 0.0, -1.0]])
    src = smcheck.analyze(x, methods=["naive"], dtypes=["float16"], temperatures=[0.01])
    (naive,) = src.sources[0].cells
    (f,) = [f for f in naive.findings if f.cause == "probability-nan"]
    want = (remedytexts.MAX_SHIFTED + ", in float32", {"method": "shifted", "dtype": "float32"})
    assert (f.remedy, f.fix) == want
    # at T = 1 the shift in float16 holds x: it is advised in the format itself
    src = smcheck.analyze(x, methods=["naive"], dtypes=["float16"])
    (f,) = [f for f in src.sources[0].cells[0].findings if f.cause == "probability-nan"]
    assert (f.remedy, f.fix) == (remedytexts.MAX_SHIFTED, {"method": "shifted"})


def test_no_remedy_names_a_format_where_x_over_t_overflows_too() -> None:
    # 1e36 / 0.001 = 1e39 is beyond bfloat16 and float32 alike (3.39e38, 3.40e38): every format
    # switch of torch's findings goes to float64, and so does the critical-temperature advice,
    # whose quotient float32 holds only for a sliver of T
    x = np.array([[1e36, 0.0, -1.0]])
    src = smcheck.analyze(x, methods=["torch"], dtypes=["bfloat16"], temperatures=[0.001, 1.0])
    cell = next(c for c in src.sources[0].cells if c.temperature == 0.001)
    fixes = {f.cause: (f.remedy, f.fix) for f in cell.findings}
    assert fixes["temperature-overflow"][0].endswith("divide and take the softmax in float64")
    assert fixes["probability-nan"] == ("compute the softmax in float64", {"dtype": "float64"})
    assert fixes["loss-nan"][1] == {"dtype": "float64"}
    (crit,) = src.sources[0].temperature.critical
    assert "divide and take the softmax in float64, or clamp T" in crit.advice
    # 3e38 / 0.5 in bfloat16, naive: its loss remedy, log_softmax, goes to float64 as well
    src = smcheck.analyze(np.array([[3e38, 0.0, -1.0]]), methods=["naive"], dtypes=["bfloat16"],
                          temperatures=[0.5])  # fmt: skip
    fixes = {f.cause: f.fix for f in src.sources[0].cells[0].findings}
    assert fixes["loss-nan"] == {"method": "torch", "dtype": "float64"}


def test_another_rows_exp_overflow_does_not_refuse_a_wider_format_for_other_faults() -> None:
    # row 0 holds 1000 (naive's exp overflows float16, float32 and float64: its own FAIL, sent
    # to the shift); row 1, 4096 zeros, stalls a strict float16 sum, which float32 cures: the
    # stall and the normwise error keep float32 (they lost every remedy while naive's exp
    # overflow refused every wider format for all of the cell's findings)
    x = np.zeros((2, 4096))
    x[0, 0] = 1000.0
    src = smcheck.analyze(x, methods=["naive"], dtypes=["float16"], model="strict")
    fixes = {f.cause: f.fix for f in src.sources[0].cells[0].findings}
    assert fixes["exp-overflow"] == {"method": "shifted"}
    assert fixes["stall"] == fixes["normwise-error"] == {"dtype": "float32"}


def test_torch_softmax_is_not_advised_beside_the_shift_where_torch_shows_the_nan() -> None:
    # [1, 2, 40000] / 0.5 in float16: x/T = 80000 is +inf, so naive's exp is inf (inf/inf) and
    # torch.softmax's x - max is inf - inf: both NaN (the shift, not analysed here, too)
    x = np.array([[1.0, 2.0, 40000.0]])
    src = smcheck.analyze(x, methods=["naive", "torch"], dtypes=["float16"], temperatures=[0.5])
    naive, torch_ = src.sources[0].cells
    assert "probability-nan" in _causes(torch_)
    (f,) = [f for f in naive.findings if f.cause == "probability-nan"]
    # naive's exp(80000) overflows float32 too: the shift or torch.softmax, in float32
    want = (remedytexts.MAX_SHIFTED + ", in float32", {"method": "shifted", "dtype": "float32"})
    assert (f.remedy, f.fix) == want


def _row_sum_overflow(use: str) -> dict[str, Cell]:
    # 70000 equal logits in float16: each exp is 1 but the row sum overflows 65504 in naive,
    # shifted and logdomain; on CPU torch.log_softmax rounds its sum to float16 too (-inf, an
    # infinite loss), while torch.softmax's probabilities are right
    x = np.zeros((1, 70000))
    rep = smcheck.analyze(x, dtypes=["float16"], methods=["naive", "shifted", "torch"], use=use)
    return {c.method: c for c in rep.sources[0].cells}


def test_a_switch_to_a_cell_the_report_shows_failing_is_not_advised() -> None:
    # under use=loss torch × float16 FAILs (log-of-zero, loss-inf), not with the row sum's
    # overflow: it was still named for naive's sum-overflow and gradient-nan
    cells = _row_sum_overflow("loss")
    assert any(f.severity == "FAIL" for f in cells["torch"].findings)
    got = {f.cause: (f.remedy, f.fix) for f in cells["naive"].findings}
    assert got["sum-overflow"] == ("compute the softmax in float32", {"dtype": "float32"})
    assert got["gradient-nan"] == (
        "compute the softmax and loss in float32",
        {"dtype": "float32"},
    )
    assert not any("torch" in f.remedy for c in cells.values() for f in c.findings)


def test_a_switch_to_a_cell_the_report_shows_clean_is_still_advised() -> None:
    # under use=probs torch × float16's infinite log-probabilities and loss are NOTEs: its
    # softmax is right, and the row sum's overflow is sent there
    cells = _row_sum_overflow("probs")
    assert not any(f.severity == "FAIL" for f in cells["torch"].findings)
    (f,) = [f for f in cells["naive"].findings if f.cause == "sum-overflow"]
    assert (f.remedy, f.fix) == (remedytexts.TORCH_SUM, {"method": "torch"})


def test_a_fail_the_cell_has_as_well_does_not_refuse_a_switch() -> None:
    # row 0's exp(-1005) is 0 in every format: log(softmax) is -inf in naive and shifted alike
    # (log-of-zero, its own remedy log_softmax); row 1's 12 overflows naive's exp in float16,
    # which the shift cures, though shifted × float16 FAILs with that log-of-zero
    x = np.array([[-999.0, 1, 2, 5, 6], [1, 2, 3, 12, 0]])
    rep = smcheck.analyze(x, model="strict", methods=["naive", "shifted"], dtypes=["float16"])
    naive, shifted = rep.sources[0].cells
    assert {f.cause for f in shifted.findings if f.severity == "FAIL"} == {"log-of-zero"}
    assert "log-of-zero" in {f.cause for f in naive.findings if f.severity == "FAIL"}
    (f,) = [f for f in naive.findings if f.cause == "exp-overflow"]
    assert (f.remedy, f.fix) == (remedytexts.MAX_SHIFTED, {"method": "shifted"})


def test_of_the_shift_and_torch_softmax_only_the_one_seen_clean_is_advised() -> None:
    # [-16, -16.4] in float16: naive's subnormal exps lose accuracy (normwise-error); a shifted
    # or torch cell made to show it too leaves the other as the only switch named
    src = smcheck.analyze(np.array([[-16.0, -16.4]]), dtypes=["float16"]).sources[0]
    cells = {c.method: c for c in src.cells}
    naive = cells["naive"]
    (error,) = [f for f in naive.findings if f.cause == "normwise-error"]
    assert error.remedy == remedytexts.MAX_SHIFTED  # both seen clean
    for failing, advised, fix in [
        ("torch", remedytexts.SHIFTED_ONLY, "shifted"),
        ("shifted", remedytexts.TORCH_SOFTMAX, "torch"),
    ]:
        shown = dataclasses.replace(cells[failing], findings=(error,))
        others = [c for m, c in cells.items() if m not in ("naive", failing)]
        (settled, *_) = settle([naive, shown, *others])
        (f,) = [f for f in settled.findings if f.cause == "normwise-error"]
        assert (f.remedy, f.fix) == (advised, {"method": fix})


def test_naives_underflow_goes_to_the_shift_where_the_shifted_cell_is_clean() -> None:
    # [-14, -18] in float16: exact p = (0.982, 0.018), yet naive's exp(-18) is below half the
    # smallest subnormal, 0: the low row max underflows, which the shift removes (exp(-4)). The
    # remedy was always "compute the softmax in float32", never the shift
    x = np.array([[-14.0, -18.0]])
    src = smcheck.analyze(
        x, methods=["naive", "shifted", "torch"], dtypes=["float16"], use="probs"
    ).sources[0]
    cells = {c.method: c for c in src.cells}
    (f,) = [f for f in cells["naive"].findings if f.cause == "underflow"]
    assert (f.remedy, f.fix) == (remedytexts.MAX_SHIFTED, {"method": "shifted"})
    assert not cells["shifted"].findings and not cells["torch"].findings
    row = torch.tensor(x, dtype=torch.float16)
    assert _naive(row)[0, 1] == 0 and _shifted(row)[0, 1] > 0  # applied in torch
    # where the shift and torch.softmax were seen to underflow too, the wider format stays
    shown = [dataclasses.replace(cells[m], findings=(f,)) for m in ("shifted", "torch")]
    (settled, *_) = settle([cells["naive"], *shown], use="probs")
    (g,) = [g for g in settled.findings if g.cause == "underflow"]
    assert (g.remedy, g.fix) == ("compute the softmax in float32", {"dtype": "float32"})


def test_saturation_at_a_mask_is_not_called_over_confidence() -> None:
    # a source with -1e9 masks and a row whose lead of 40 nats saturates float64 (1 - p_top is
    # 1.3e-17, under u/2); the masked row itself has no gradient to lose (e^-1e9 is below
    # float64's range), so the finding's remedy must allow for masks without blaming them
    x = np.array([[0.5, -1e9, -1e9, -1e9], [0.5, 0.1, -1e9, 0.2], [40.0, 0.0, 0.0, 0.0]])
    cell = _cell(x, "torch", "float64", use="loss")  # auto would judge the masked rows as probs
    (sat,) = [f for f in cell.findings if f.cause == "saturation"]
    assert sat.remedy == remedytexts.MASKED_SATURATION and not sat.fix
    unmasked = choose("saturation", "torch", "float64")
    assert unmasked.text == remedytexts.CURB_CONFIDENCE


def test_saturation_sent_wider_blames_no_mask_and_names_no_loss_under_probs() -> None:
    # causal attention scores: the wider-format candidate read "compute the softmax and loss in
    # float64, or curb over-confident logits" whatever the masks and the use; the masked wording
    # came only where no wider format was analysed, and use=probs judges no loss
    aside = (
        "nothing to fix where a row's other entries are masks (their probability is 0 by "
        "design); elsewhere "
    )
    curb = "curb over-confident logits (label smoothing, a higher temperature)"
    x = np.array([[0.5, -1e9, -1e9, -1e9], [0.5, 0.1, -1e9, 0.2], [20.0, 0.0, 0.0, 0.0]])
    src = smcheck.analyze(x, methods=["torch"], dtypes=["float32", "float64"]).sources[0]
    assert src.use == "probs"
    (sat,) = [f for f in src.cells[0].findings if f.cause == "saturation"]  # 3e^-20 < u/2
    assert (sat.remedy, sat.fix) == (
        f"{aside}compute the softmax in float64, or {curb}",
        {"dtype": "float64"},
    )
    assert "saturation" not in _causes(src.cells[1])
    s = Situation("torch", "float32", use="loss", masked=True)
    assert candidates("saturation", s)[0].text == (
        f"{aside}compute the softmax and loss in float64, or {curb}"
    )
    s = dataclasses.replace(s, use="probs", masked=False)
    assert candidates("saturation", s)[0].text == f"compute the softmax in float64, or {curb}"


def test_a_material_dead_gradient_goes_to_log_softmax_a_note_to_a_wider_softmax() -> None:
    # mnist row 1913 in float16: naive's backward of exp(x) / s (s = 52192) zeroes the target's
    # gradient, losing 0.00315 > 4u -- a WARN whose remedy was 'compute the loss in float32',
    # yet p cast to float32 for the loss leaves it (the backward of exp(x) / s stays float16).
    # log_softmax's own dead elements each lose under u (torch float16 has none here); row 873
    # in bfloat16 loses 0.00199 < 4u in naive and torch alike: only a wider softmax clears it
    x = np.load(MNIST)[[1913, 873]].astype(np.float64)
    rep = smcheck.analyze(x, methods=["naive", "torch"], dtypes=["float16", "bfloat16", "float32"])
    cells = {(c.method, c.dtype): c for c in rep.sources[0].cells}
    (warn,) = [f for f in cells["naive", "float16"].findings if f.cause == "dead-gradient"]
    assert warn.severity == "WARN" and warn.fix == {"method": "torch"}
    assert warn.remedy == remedytexts.LOG_SOFTMAX
    assert "dead-gradient" not in _causes(cells["torch", "float16"])
    (note,) = [f for f in cells["naive", "bfloat16"].findings if f.cause == "dead-gradient"]
    assert note.severity == "NOTE" and "dead-gradient" in _causes(cells["torch", "bfloat16"])
    assert (note.remedy, note.fix) == (
        "compute the softmax and loss in float32",
        {"dtype": "float32"},
    )
    assert "dead-gradient" not in _causes(cells["naive", "float32"])
    for method in ("naive", "shifted", "online", "logdomain", "torch"):
        assert choose("dead-gradient", method, "float16", material=False).fix == {
            "dtype": "float32"
        }
    assert choose("dead-gradient", "lse-direct", "float16").fix == {"method": "logdomain"}
    assert choose("loss-inf", "lse-direct", "float32").fix == {"method": "logdomain"}


def test_check_hint_is_the_cells_own_remedy() -> None:
    # torch float16 at T=0.01: NaN from x/T overflowing; the hint is a wider format, not torch
    x = np.array([[1000.0, 0.0, -1.0]])
    cell = _cell(x, "torch", "float16", temperatures=[0.01])
    cond = parse_condition("nan")
    message = cond.message(cond.check(cell))
    assert message.endswith("-- compute the softmax in float32") and "torch.softmax" not in message


def test_under_softmin_the_overflow_and_nan_conditions_end_with_their_cells_own_remedies() -> None:
    # x = [1000, -1000, 3] at T = 0.01: -x/T = [-1e5, 1e5, -300], 1e5 past float16's 65504, a
    # temperature overflow; x = [1e9, 1e9, 1e9]: -1e9 is -inf in float16, a row entirely -inf.
    # The conditions gave the registry's remedy of their hint (exp-overflow, probability-nan),
    # which the cells do not have: max-shifted softmax, of no help against either. Dividing in
    # float32 or float64 is not offered: naive's exp(1e5) overflows both. Nor is a finite mask
    # alone, or a wider format: naive's exp of -x's -65504 (or -1e9) is 0, 0/0 a NaN
    t = _cell(
        np.array([[1000.0, -1000.0, 3.0]]), "naive", "float16", temperatures=[0.01], softmin=True
    )
    cond = parse_condition("overflow")
    assert cond.message(cond.check(t)).endswith(
        "-- centre -x before dividing ((min x - x) / T), or raise T"
    )
    m = _cell(np.array([[1e9, 1e9, 1e9], [1.0, 2.0, 3.0]]), "naive", "float16", softmin=True)
    cond = parse_condition("nan")
    assert cond.message(cond.check(m)).endswith(
        "-- mask with torch.finfo(torch.float16).max, a value float16 holds, and use max-shifted "
        "softmax, or handle fully masked rows"
    )


def test_a_remedy_the_cells_findings_do_not_give_is_chosen_in_the_sources_situation() -> None:
    # under softmin a cell that has neither finding: the registry's remedies named softmax's
    # logits (centre the logits, finfo.min), as if the source were unmasked softmax
    inf = math.inf
    rep = smcheck.analyze(
        np.array([[1.0, 2.0, 3.0], [2.0, 1.0, inf]]),
        softmin=True,
        methods=["naive"],
        dtypes=["float16"],
    ).sources[0]
    s = source_situation(rep)
    (cell,) = rep.cells
    assert not {"temperature-overflow", "masked-row-nan"} & _causes(cell)
    assert cell_remedy("temperature-overflow", cell, s) == (
        "centre -x before dividing ((min x - x) / T), or divide and take the softmax in float32"
    )
    assert cell_remedy("masked-row-nan", cell, s) == (
        "mask with torch.finfo(torch.float16).max, a value float16 holds, and use max-shifted "
        "softmax, or handle fully masked rows"
    )


def test_the_sources_situation_holds_its_use_masks_softmin_and_largest_logit() -> None:
    # -x of [[-1e39, 0, 1], [1, 2, +inf]] is [[1e39, -0, -1], [-1, -2, -inf]]: one +inf mask
    # of softmin (-inf in -x), largest 1e39, which only float64 holds
    inf = math.inf
    x = np.array([[-1e39, 0.0, 1.0], [1.0, 2.0, inf]])
    rep = smcheck.analyze(x, softmin=True, methods=["torch"], dtypes=["float16"], use="loss")
    s = source_situation(rep.sources[0])
    assert (s.use, s.masked, s.softmin, s.largest) == ("loss", True, True, 1e39)
    here = Situation("torch", "float16", largest=s.largest)
    assert remedies.remedy("cast-overflow", here) == "compute the softmax in float64"
    # a row holding -inf (+inf in -x) is upstream: its finite values are no judged row's
    up = smcheck.analyze(np.array([[-inf, -1e39], [1.0, 2.0]]), softmin=True, dtypes=["float16"])
    assert source_situation(up.sources[0]).largest is None


def test_critical_temperature_advice_names_a_wider_format() -> None:
    f32 = advice("torch", "float32", ["temperature_overflow"], 2, rel_tol=1e-3)
    assert "take the softmax in float64" in f32
    f64 = advice("torch", "float64", ["temperature_overflow"], 2, rel_tol=1e-3)
    assert "float" not in f64.split(" -- ")[1]


def test_critical_temperature_advice_names_a_format_holding_x_over_t_at_the_lowest_t() -> None:
    # 400 / 1e-37 = 4e39 is beyond float32 too: "divide ... in float32" held just below the
    # critical T but not at the lowest T the same report swept
    kw = {"dtypes": ["float16"], "methods": ["torch"], "gradients": False}
    r = smcheck.analyze(np.array([[1.0, 2.0, 3.0, 400.0]]), temperatures=[1, 0.1, 1e-37], **kw)
    (crit,) = r.sources[0].temperature.critical
    assert crit.advice == (
        "torch float16: below T≈0.006108 dividing the logits by T overflows float16 -- centre the "
        "logits before dividing ((x - max x) / T), or divide and take the softmax in float64, or "
        "clamp T to >= 0.006108"
    )


def test_critical_temperature_advice_says_where_no_format_holds_x_over_t() -> None:
    # 40000 / 1e-305 = 4e309 overflows float64 as well: no format to divide in is named
    kw = {"dtypes": ["float16"], "methods": ["torch"], "gradients": False}
    r = smcheck.analyze(np.array([[1.0, 2.0, 3.0, 40000.0]]), temperatures=[1, 1e-305], **kw)
    (crit,) = r.sources[0].temperature.critical
    assert crit.advice == (
        "torch float16: below T≈0.6108 dividing the logits by T overflows float16 -- centre the "
        "logits before dividing ((x - max x) / T) in float64 (float32, where torch divides "
        "float16, takes T=1e-305 as 0), or clamp T to >= 0.6108"
    )


def test_naives_critical_advice_says_where_the_shift_it_names_fails_too() -> None:
    # [1, 2, 3, 400] in float16: naive's exp overflows below T = 36.09, and its advice named the
    # shift or torch.softmax for every T below that; but 400 / T overflows float16 below
    # T = 0.006108, within the scan, where they give NaN as well
    x = np.array([[1.0, 2.0, 3.0, 400.0]])
    want = (
        "naive float16: below T≈36.09 exp(x/T) overflows float16 -- use max-shifted softmax or "
        "torch.softmax, or clamp T to >= 36.09; below T≈0.006108 they fail too: with them, centre "
        "the logits before dividing ((x - max x) / T), or divide and take the softmax in float32"
    )
    for methods in (["naive", "shifted", "torch"], ["naive"]):  # alone: shifted searched for it
        r = smcheck.analyze(x, dtypes=["float16"], methods=methods, temperatures=[1, 0.001])
        naive = r.sources[0].temperature.critical[0]
        assert (naive.method, naive.advice) == ("naive", want)
    # where the shift holds down to the scan's bottom, the advice is the shift alone
    r = smcheck.analyze(x, dtypes=["float32"], methods=["naive"], temperatures=[1, 0.001])
    assert r.sources[0].temperature.critical[0].advice == (
        "naive float32: below T≈4.509 exp(x/T) overflows float32 -- use max-shifted softmax or "
        "torch.softmax, or clamp T to >= 4.509"
    )


SUM_FP32 = "accumulate the sum in float32"
LOG_SUM = f"{SUM_FP32} (torch.log_softmax rounds its row sum to float16)"


def _critical(x: np.ndarray, methods: list[str], temperatures: list[float], use: str) -> dict:
    r = smcheck.analyze(x, dtypes=["float16"], methods=methods, temperatures=temperatures, use=use)
    return {c.method: c.advice for c in r.sources[0].temperature.critical}


def test_naives_critical_advice_says_where_the_shift_fails_above_its_safe_range() -> None:
    # 70001 logits, one of 12, in float16: naive fails at every T, and its advice sent it to the
    # shift with no word of the shift's own sum overflowing above T = 180 (F at 300 and 1000)
    x = np.zeros((1, 70001))
    x[0, 0] = 12
    head = (
        "naive float16: fails at every scanned T; at the scan's top the sum of exp(x/T) overflows "
        "float16 -- use max-shifted softmax or torch.softmax; below T≈0.0001833 they fail too: "
        "with them, centre the logits before dividing ((x - max x) / T), or divide and take the "
        "softmax in float32; above T≈180.7 "
    )
    got = _critical(x, ["naive", "shifted", "torch"], [1, 300], "probs")
    assert got["naive"] == head + f"max-shifted softmax fails too: with it, {SUM_OR_TORCH}"
    # a single logit of 0.01: the shift fails above T = 0.15, and the advice had no clause
    x[0, 0] = 0.01
    got = _critical(x, ["naive"], [1e-5, 1], "probs")
    assert got["naive"].endswith(
        f"use max-shifted softmax or torch.softmax; above T≈0.1506 max-shifted softmax fails too: "
        f"with it, {SUM_OR_TORCH}"
    )


def test_the_critical_advice_names_no_torch_softmax_for_a_sum_its_log_softmax_overflows() -> None:
    # under use loss torch's cells read its log_softmax, whose float16 row sum overflows with
    # the shift's: torch × float16 FAILs log-of-zero at T = 300, where the advice said "use
    # torch.softmax"
    x = np.zeros((1, 70001))
    x[0, 0] = 12
    r = smcheck.analyze(x, dtypes=["float16"], temperatures=[1, 300], use="loss").sources[0]
    (torch300,) = [c for c in r.cells if c.method == "torch" and c.temperature == 300]
    assert "log-of-zero" in {f.cause for f in torch300.findings if f.severity == "FAIL"}
    got = {c.method: c.advice for c in r.temperature.critical}
    assert got["shifted"].endswith(
        f"above T≈180.7 the sum of exponentials overflows float16 (a long row of similar logits) "
        f"-- {LOG_SUM}, or clamp T to <= 180.7"
    )
    assert got["naive"].endswith(f"; above T≈180.7 they fail too: with them, {LOG_SUM}")


def test_naives_critical_advice_judges_the_shift_and_torch_each_from_its_own_search() -> None:
    # 70000 logits of -1 in float16: the shifted sum overflows at every T, torch.softmax (its
    # sum in float32) is safe down to 1.53e-05, but the advice said "they fail at every
    # scanned T too: with them, accumulate the sum in float32 or use torch.softmax"
    x = np.full((1, 70000), -1.0)
    got = _critical(x, ["naive", "shifted", "torch"], [0.01, 100], "probs")
    assert got["naive"] == (
        "naive float16: below T≈0.05771 every exp(x/T) of a row underflows to 0 (0/0) -- use "
        "torch.softmax, or clamp T to >= 0.05771; below T≈1.527e-05 it fails too: with it, "
        "centre the logits before dividing ((x - max x) / T); above T≈15.06 the sum of exp(x/T) "
        f"overflows float16 -- {SUM_OR_TORCH}, or clamp T to <= 15.06"
    )
    # unsafe at every T: the sum overflows at the scan's top, the row divides to -inf at its
    # bottom (T = 1e-6), where "at every scanned T the sum overflows" was false
    assert got["shifted"] == (
        "shifted float16: fails at every scanned T; at the scan's top the sum of exponentials "
        f"overflows float16 (a long row of similar logits) -- {SUM_OR_TORCH}"
    )


def test_a_row_of_masks_that_t_masks_gets_the_mask_remedy_in_the_critical_advice() -> None:
    # a row of -1e4 masks in float16 is -inf once divided by T < 0.1527 (NaN: inf - inf), and the
    # advice said "a whole row divides to -inf -- centre the logits before dividing": centring a
    # row of masks only spreads its output evenly over them; the cells' masked-row-nan remedy
    # (mask with the format's min after dividing, or handle fully masked rows) is the fix
    x = np.array([[1.0, 2.0, 3.0, 4.0], [-1e4] * 4])
    kw = {"dtypes": ["float16"], "methods": ["naive", "torch"], "temperatures": [1, 0.01]}
    naive, torch = smcheck.analyze(x, **kw).sources[0].temperature.critical
    mask = (
        "mask with torch.finfo(torch.float16).min, a value float16 holds, after dividing by T, "
        "or handle fully masked rows, or compute the softmax in float32"
    )
    assert torch.advice == (
        "torch float16: below T≈0.1527 every mask of a row is -inf in float16 once divided by T: "
        f"NaN (inf - inf) -- {mask}, or clamp T to >= 0.1527"
    )
    assert naive.advice.endswith(f"; below T≈0.1527 they fail too: with them, {mask}")
    # under softmin the masks are +1e4: -inf in -x, masked with the format's max
    kw["softmin"] = True
    (_, torch) = smcheck.analyze(-x, **kw).sources[0].temperature.critical
    assert torch.advice.startswith(
        "torch float16: below T≈0.1527 every mask of a row is +inf in float16 once divided by T "
        "(-inf in -x): NaN (inf - inf) -- mask with torch.finfo(torch.float16).max, "
    )
    # a row of ordinary logits (no sentinel) that divides to -inf is centred, as before
    x = np.array([[1.0, 2.0, 3.0, 4.0], [-3e4] * 4])
    r = smcheck.analyze(x, dtypes=["float16"], methods=["torch"], temperatures=[1, 0.01])
    assert r.sources[0].temperature.critical[0].advice == (
        "torch float16: below T≈0.4581 a whole row divides to -inf (inf - inf) -- centre the "
        "logits before dividing ((x - max x) / T), or clamp T to >= 0.4581"
    )


def test_critical_temperature_advice_under_softmin_names_minus_x() -> None:
    # softmin's cast turns logits into -inf, -x into +inf; its exp is of -x/T
    cast = advice("torch", "float16", ["cast_overflow"], math.inf, rel_tol=1e-3, softmin=True)
    assert "the cast to float16 turns -x into +inf" in cast
    exp = advice("naive", "float16", ["exp_overflow"], 2, rel_tol=1e-3, softmin=True)
    assert "exp(-x/T) overflows" in exp
    plain = advice("torch", "float16", ["cast_overflow"], math.inf, rel_tol=1e-3)
    assert "turns logits into +inf" in plain


def test_the_cast_overflow_remedy_names_the_narrowest_format_holding_the_logit() -> None:
    # a 1e39 logit overflows float32 as well as float16 and bfloat16: analysed alone, float16
    # and bfloat16 were sent to float32, which was never analysed and holds no 1e39
    big = np.array([[1e39, 0.0, 1.0], [1.0, 2.0, 3.0]])
    for dtype in ("float16", "bfloat16", "float32"):
        r = smcheck.analyze(big, dtypes=[dtype], methods=["torch"], temperatures=[1.0, 2.0])
        (f,) = [f for f in r.sources[0].cells[0].findings if f.cause == "cast-overflow"]
        assert (f.remedy, f.fix) == ("compute the softmax in float64", {"dtype": "float64"})
        (crit,) = r.sources[0].temperature.critical
        assert crit.advice.endswith("-- compute the softmax in float64")
    # 1e5 fits float32; a NaN row's 1e39 is upstream, no row the cast judges
    x = np.array([[1e5, 0.0, 1.0], [np.nan, 1e39, 2.0]])
    (f,) = [f for f in _cell(x, "torch", "float16").findings if f.cause == "cast-overflow"]
    assert f.remedy == "compute the softmax in float32"
    assert holding("float16", 3.3995e38) == ("float32", "float64")  # past bfloat16's
    assert holding("bfloat16", 3.41e38) == ("float64",)
    assert holding("float16", None) == ("float32", "float64")


def test_the_masked_row_remedy_names_the_narrowest_format_holding_every_row_max() -> None:
    # a row of -1e39 is entirely -inf in float32 as well as in float16 and bfloat16: analysed
    # alone, float16 and bfloat16 were sent to float32, where torch returns NaN for it again
    x = np.array([[-1e39, -2e39], [1.0, 2.0]])
    for dtype in ("float16", "bfloat16", "float32"):
        (f,) = [f for f in _cell(x, "torch", dtype).findings if f.cause == "masked-row-nan"]
        assert (f.remedy, f.fix) == ("compute the softmax in float64", {"dtype": "float64"})
    assert "masked-row-nan" not in _causes(_cell(x, "torch", "float64"))
    # what counts is the row's max: -1e39 beside -7e4 is -inf in float32 alone, the row is not
    x = np.array([[-1e39, -7e4], [1.0, 2.0]])
    (f,) = [f for f in _cell(x, "torch", "float16").findings if f.cause == "masked-row-nan"]
    assert f.remedy == "compute the softmax in float32"
    # at T = 0.01 a row max of -1e37 is -1e39 once divided: float32 holds no -1e39 either
    x = np.array([[-1e37, -2e37], [1.0, 2.0]])
    f16 = _cell(x, "torch", "float16", temperatures=[0.01])
    (f,) = [f for f in f16.findings if f.cause == "masked-row-nan"]
    assert f.remedy == "compute the softmax in float64"
    # at T = 2 the cast comes first: -5e38 is -inf in float32 before any division (it was sent
    # to float32, as -2.5e38 would be)
    x = np.array([[-5e38, -5e38], [1.0, 2.0]])
    bf16 = _cell(x, "torch", "bfloat16", temperatures=[2.0])
    (f,) = [f for f in bf16.findings if f.cause == "masked-row-nan"]
    assert f.remedy == "compute the softmax in float64"


def test_the_mask_remedy_of_rows_masked_once_divided_masks_after_dividing_by_t() -> None:
    # -1e4 / 0.1 = -1e5 is -inf in float16: a mask of finfo.min before the division is -inf as
    # well, so the cell's remedy masks the quotient, as the input finding already said
    x = np.array([[-1e4, -1e4, -1e4], [1.0, 2.0, -1e4]])
    src = smcheck.analyze(x, dtypes=["float16"], methods=["torch"], temperatures=[1, 0.1])
    src = src.sources[0]
    (cell,) = [c for c in src.cells if c.temperature == 0.1]
    (f,) = [f for f in cell.findings if f.cause == "masked-row-nan"]
    assert f.remedy == (
        "mask with torch.finfo(torch.float16).min, a value float16 holds, after dividing by T, "
        "or handle fully masked rows, or compute the softmax in float32"
    )
    (inp,) = [f for f in src.input.findings if f.kind == "became_fully_masked"]
    assert inp.message.endswith(
        "-- mask with torch.finfo(torch.float16).min, a value float16 holds, after dividing by T"
    )
    # -1e5 / 1e-36 is -inf in float32 (--mask-value -1e5); at T = 1 the cast masks -1e9 in
    # float16 and the format's min holds: nothing to say about T
    x = np.array([[-1e5, -1e5, -1e5], [1.0, 2.0, -1e5]])
    f32 = _cell(x, "torch", "float32", temperatures=[1e-36], mask_value=-1e5)
    (f,) = [f for f in f32.findings if f.cause == "masked-row-nan"]
    assert f.remedy == (
        "mask with torch.finfo(torch.float32).min, a value float32 holds, after dividing by T, "
        "or handle fully masked rows, or compute the softmax in float64"
    )
    f16 = _cell(np.array([[-1e9, -1e9], [1.0, 2.0]]), "torch", "float16")
    (f,) = [f for f in f16.findings if f.cause == "masked-row-nan"]
    assert f.remedy == (
        "mask with torch.finfo(torch.float16).min, a value float16 holds, or handle fully masked "
        "rows, or compute the softmax in float32"
    )


def test_below_t_1_the_mask_remedy_of_rows_the_cast_masked_masks_after_dividing_too() -> None:
    # -1e9 is -inf in float16 before any T; finfo.min = -65504 would be -131008 once divided by
    # 0.5, -inf too: the mask goes on x/T there, while at T = 2 the format's min holds
    x = np.array([[-1e9, -1e9], [1.0, 2.0]])
    src = smcheck.analyze(x, dtypes=["float16"], methods=["torch"], temperatures=[0.5, 2])
    remedy = {
        c.temperature: f.remedy
        for c in src.sources[0].cells
        for f in c.findings
        if f.cause == "masked-row-nan"
    }
    mask = "mask with torch.finfo(torch.float16).min, a value float16 holds"
    rest = "or handle fully masked rows, or compute the softmax in float32"
    assert remedy == {0.5: f"{mask}, after dividing by T, {rest}", 2: f"{mask}, {rest}"}


def test_naive_rows_the_cast_masks_get_the_shift_with_a_finite_mask_not_a_wider_format() -> None:
    # -1e9 is -inf in float16: naive was told to mask with finfo.min or compute in float32, yet
    # its exp of -65504 is 0 in float16 and of -1e9 0 in float32, a row 0/0 either way; the
    # shift with a finite mask cures it (as does handling the rows), and the input WARN says so
    src = smcheck.analyze(
        np.array([[1.0, 2.0, 3.0], [-1e9, -1e9, -1e9]]), methods=["naive"], dtypes=["float16"]
    ).sources[0]
    (f,) = [f for f in src.cells[0].findings if f.cause == "masked-row-nan"]
    mask = "mask with torch.finfo(torch.float16).min, a value float16 holds"
    assert (f.remedy, f.fix) == (
        f"{mask}, and use max-shifted softmax, or handle fully masked rows",
        {},
    )
    (inp,) = [f for f in src.input.findings if f.kind == "became_fully_masked"]
    assert inp.message.endswith(
        f"naive returns NaN for it -- {mask}, and use max-shifted softmax for naive"
    )
    # applied in torch: the finite mask alone and the wider format leave naive NaN
    f16_min = torch.full((1, 3), torch.finfo(torch.float16).min, dtype=torch.float16)
    assert _naive(f16_min).isnan().all()
    assert _naive(torch.full((1, 3), -1e9, dtype=torch.float32)).isnan().all()
    assert torch.equal(_shifted(f16_min), torch.full((1, 3), 1 / 3, dtype=torch.float16))
    # logits beyond the range (no mask): naive is shifted before the cast, not sent to float32
    s = Situation("naive", "float16", lowest=-1e5)
    assert [r.text for r in candidates("masked-row-nan", s)] == [remedytexts.SHIFT_BEFORE_CAST]
    row = torch.tensor([[-1e5, -1e5 + 1, -1e5 + 2]], dtype=torch.float64)
    assert _naive(row.float()).isnan().all()
    assert _naive((row - row.amax(-1, keepdim=True)).half()).isfinite().all()


def test_every_condition_hint_is_a_cause_of_the_registry() -> None:
    # a condition's hint names the cause whose remedy ends its violation messages
    from smcheck.findings.policyconditions import METRICS

    assert {m.hint for m in METRICS.values()} <= set(CELL_REMEDIES)


def test_a_strict_naive_error_is_sent_to_a_wider_format_not_to_the_shift() -> None:
    # under the strict model a float16 sum of 4096 equal terms stalls at 2048 for naive and
    # shifted alike (normwise error 2048u): the shift cures nothing, a wider format does
    x = np.zeros((1, 4096))
    assert "normwise-error" in _causes(_cell(x, "naive", "float16", model="strict"))
    assert "normwise-error" in _causes(_cell(x, "shifted", "float16", model="strict"))
    fix = choose("normwise-error", "naive", "float16", model="strict")
    assert fix.fix == {"dtype": "float32"}
    assert choose("normwise-error", "naive", "float16").fix == {"method": "shifted"}


def test_a_dead_gradient_note_skips_a_wider_format_where_its_loss_is_immaterial_already() -> None:
    # [0, -17] in float16: naive's target gradient 1 - p_t (4.1e-8) is 0, and p_t rounds to 1 in
    # float32 too (4.1e-8 is under its u/2, 6e-8): the same 4.1e-8, under float32's 4u, is lost
    # there, so float32 changes nothing that matters; float64 keeps it, analysed or not
    x = np.array([[0.0, -17.0]])
    fix = ("compute the softmax and loss in float64", {"dtype": "float64"})
    for dtypes in (["float16"], ["float16", "float32"], ["float16", "float32", "float64"]):
        src = smcheck.analyze(x, methods=["naive"], dtypes=dtypes).sources[0]
        (f,) = [f for f in src.cells[0].findings if f.cause == "dead-gradient"]
        assert (f.severity, f.remedy, f.fix) == ("NOTE", *fix), dtypes
    assert "dead-gradient" in _causes(_cell(x, "naive", "float32"))
    assert "dead-gradient" not in _causes(_cell(x, "naive", "float64"))


def test_a_dead_gradient_note_skips_an_analysed_wider_format_seen_losing_as_much() -> None:
    # [0, -17, -17, -17], naive: float16 and float32 both lose the target's 1.24e-7 (naive's
    # float32 backward cancels it to 0 though 1 + 3e^-17 does not round to 1 there), both as
    # NOTEs; a wider NOTE settles a NOTE only where it loses less: float64
    x = np.array([[0.0, -17.0, -17.0, -17.0]])
    src = smcheck.analyze(x, methods=["naive"], dtypes=["float16", "float32"]).sources[0]
    f16, f32 = src.cells
    assert f16.gradient and f32.gradient and f32.gradient.dead_max == f16.gradient.dead_max
    (f,) = [f for f in f16.findings if f.cause == "dead-gradient"]
    assert (f.severity, f.remedy) == ("NOTE", "compute the softmax and loss in float64")


CLASSIFIER = Path(__file__).parents[2] / "sample_inputs" / "classifier_fp16_overflow.npy"


def test_a_16_bit_notes_remedy_is_float32_whatever_other_formats_ran() -> None:
    # torch × bfloat16's NOTEs: float32 shows log-error and dead-gradient only as NOTEs (1.7e-6
    # nats, 5.3e-8 lost: under its own limits), which settles them; float64 was advised where
    # float32 ran beside it, float32 where it did not. Saturation, known by its rows only, is
    # sent to float32 only where float32 ran and was seen free of it; alone, to curbing
    x = np.load(CLASSIFIER)
    curb = "curb over-confident logits (label smoothing, a higher temperature)"
    want = {
        "log-error": "compute the softmax in float32",
        "dead-gradient": "compute the softmax and loss in float32",
        "saturation": f"compute the softmax and loss in float32, or {curb}",
    }
    for dtypes in (["bfloat16"], ["bfloat16", "float32"], list(FORMATS)):
        src = smcheck.analyze(x, methods=["torch"], dtypes=dtypes).sources[0]
        (cell,) = [c for c in src.cells if c.dtype == "bfloat16"]
        got = {f.cause: f.remedy for f in cell.findings}
        alone = dtypes == ["bfloat16"]
        assert got == {**want, "saturation": curb} if alone else want, dtypes
        fixes = [f.fix for f in cell.findings if not (alone and f.cause == "saturation")]
        assert fixes == [{"dtype": "float32"}] * len(fixes) and len(fixes) >= 2, dtypes


def test_a_saturation_note_is_not_sent_to_a_wider_format_not_analysed() -> None:
    # [0, -20]: 1 - p_max = 2.1e-9 is under float32's u/2 (3e-8), so p_max rounds to 1 there
    # too; float16 alone is told to curb the logits, not to switch to float32
    x = np.array([[0.0, -20.0]])
    (cell,) = smcheck.analyze(x, methods=["torch"], dtypes=["float16"]).sources[0].cells
    (f,) = [f for f in cell.findings if f.cause == "saturation"]
    assert f.remedy == "curb over-confident logits (label smoothing, a higher temperature)"
    wide = smcheck.analyze(x, methods=["torch"], dtypes=["float16", "float32"]).sources[0]
    assert "saturation" in {f.cause for f in wide.cells[1].findings}
    (f,) = [f for f in wide.cells[0].findings if f.cause == "saturation"]
    assert f.remedy == "curb over-confident logits (label smoothing, a higher temperature)"


def _seen(severities: dict[str, str], lost: float | None = None) -> settling._Seen:
    causes = {c: s != "NOTE" for c, s in severities.items()}
    failing = frozenset(c for c, s in severities.items() if s == "FAIL")
    return settling._Seen(causes, failing, log_of_p=False, lost=lost)


@pytest.mark.parametrize(
    ("cause", "material", "there", "wider", "fails", "lost_there"),
    [
        ("log-error", False, "NOTE", True, False, None),  # a wider format's NOTE: settled
        ("log-error", False, "NOTE", False, True, None),  # the same format's NOTE is no better
        ("log-error", False, "WARN", True, True, None),
        ("log-error", True, "NOTE", False, False, None),  # a NOTE clears a WARN anywhere
        ("log-error", True, "WARN", True, True, None),
        ("saturation", False, "NOTE", True, True, None),  # the same rows saturate there
        ("log-error", False, None, True, False, None),
        ("dead-gradient", False, "NOTE", True, False, 1e-8),  # it loses less there than 1e-7
        ("dead-gradient", False, "NOTE", True, True, 1e-7),  # it loses as much there
    ],
)
def test_a_cell_settles_a_cause_it_shows_at_most_as_a_note_at_a_finer_limit(
    cause: str, material: bool, there: str | None, wider: bool, fails: bool, lost_there: float
) -> None:
    s = Situation("torch", "bfloat16", material=material, lost=1e-7)
    seen = _seen({cause: there} if there else {}, lost_there)
    assert settling._fails(cause, s, seen, wider) is fails
    assert settling._fails(cause, s, None, wider) is False  # not analysed


def test_a_flat_rows_dead_gradient_is_sent_to_float32_not_to_curbing_confidence() -> None:
    # a uniform float16 row of 70000 (p = 1/70000: nothing saturates or rounds to 0): torch's
    # float16 log_softmax returns -inf once its row sum overflows, so 69999 gradient elements
    # are 0; the cause is the format's sum, which float32 cures, not over-confident logits
    x = np.full((1, 70000), 3.0)
    rep = smcheck.analyze(x, methods=["torch"], dtypes=["float16"])
    src = rep.sources[0]
    (f,) = [f for f in src.cells[0].findings if f.cause == "dead-gradient"]
    fix = ("compute the softmax and loss in float32", {"dtype": "float32"})
    assert (f.severity, f.remedy, f.fix) == ("NOTE", *fix)
    assert "dead-gradient" not in _causes(_cell(x, "torch", "float32"))
    assert (
        "- **NOTE** `dead-gradient` in torch × float16: 69999 gradient elements are exactly 0 "
        "where the exact gradient is representable in float16, in 1/1 row (the gradient loses "
        "at most 1.43e-05 there, under the 4u = 0.00195 that matters). Fix: compute the softmax "
        "and loss in float32"
    ) in report_markdown(rep).splitlines()
    # check's remedy for the cell without the finding (a limit met below it) is the same
    bare = dataclasses.replace(src.cells[0], findings=())
    assert cell_remedy("dead-gradient", bare, source_situation(src)) == fix[0]


def _log_error(cell: Cell) -> tuple[str, dict[str, str]]:
    (f,) = [f for f in cell.findings if f.cause == "log-error" and f.severity == "WARN"]
    return f.remedy, f.fix


@pytest.mark.parametrize(
    ("values", "dtype"),
    [(np.zeros((1, 4096)), "bfloat16"), (np.r_[5.0, np.zeros(3000)][None], "float16")],
    ids=["4096-zeros-bfloat16", "5-and-3000-zeros-float16"],
)
def test_a_strict_lse_directs_stalled_log_error_goes_to_a_wider_format_not_logdomain(
    values: np.ndarray, dtype: str
) -> None:
    # strict lse-direct subtracts the max before its sum already: the error is the stalled
    # sum (256 in bfloat16), which logdomain shares; "subtract the max (logdomain)" was
    # advised where logdomain was not analysed
    cell = _cell(values, "lse-direct", dtype, model="strict")
    assert "stall" in _causes(cell)
    assert _log_error(cell) == ("compute the softmax in float32", {"dtype": "float32"})
    assert "log-error" in _causes(_cell(values, "logdomain", dtype, model="strict"))
    assert "log-error" not in _causes(_cell(values, "lse-direct", "float32", model="strict"))


def test_lse_directs_log_error_on_max_shifted_logits_goes_to_a_wider_format() -> None:
    # every row's max is 0: lse-direct's y = 0 + log sum is logdomain's, so its float16 error
    # (no stall: 600 terms under 2048) is logdomain's to the bit; float32 clears it
    x = np.linspace(0.0, -0.1, 600)[None]
    src = smcheck.analyze(x, methods=["lse-direct"], dtypes=["float16"], model="strict")
    cell = src.sources[0].cells[0]
    assert cell.accumulation is not None and cell.accumulation.stalled.rows == 0
    assert _log_error(cell) == ("compute the softmax in float32", {"dtype": "float32"})
    logdomain = _cell(x, "logdomain", "float16", model="strict")
    assert logdomain.metrics.log_error == cell.metrics.log_error
    assert "log-error" not in _causes(_cell(x, "lse-direct", "float32", model="strict"))


@pytest.mark.parametrize("model", ["framework", "strict"])
def test_lse_directs_log_error_at_a_large_max_still_goes_to_logdomain(model: str) -> None:
    # [1000, 999.3, 990.1] in float16: the logsumexp y rounds at a spacing of 0.5, which
    # logdomain keeps out of z (the framework's torch.logsumexp and strict lse-direct alike)
    x = np.array([[1000.0, 999.3, 990.1]])
    cell = _cell(x, "lse-direct", "float16", model=model)
    assert _log_error(cell) == (remedytexts.LSE_SUBTRACT_MAX, {"method": "logdomain"})
    assert "log-error" not in _causes(_cell(x, "logdomain", "float16", model=model))


def test_lse_directs_dead_gradient_note_goes_to_subtracting_the_max() -> None:
    # [30, 16] in float16: lse-direct's rounded logsumexp makes p_t 1 (gradient [0, 8.3e-7]), a
    # NOTE that float32 turns into a WARN (the same rounding, a smaller u); logdomain clears it
    x = np.array([[30.0, 16.0]])
    (f,) = [f for f in _cell(x, "lse-direct", "float16").findings if f.cause == "dead-gradient"]
    assert f.severity == "NOTE" and f.fix == {"method": "logdomain"}
    assert "dead-gradient" not in _causes(_cell(x, "logdomain", "float16"))


def test_a_row_t_turns_minus_inf_is_centred_before_dividing_not_shifted_before_cast() -> None:
    # -1 holds in float16: dividing by T = 1e-6 makes it -inf, so a shift before the cast
    # changes nothing; centring before the division does (the input finding says so too)
    s = Situation("naive", "float16", lowest=-1.0 / 1e-6, temperature=1e-6)
    got = [r.text for r in candidates("masked-row-nan", s)]
    assert got[-1] == remedytexts.CENTRE_LOGITS
    # a row the cast already makes -inf is still shifted before the cast
    s = dataclasses.replace(s, lowest=-1e5 / 1e-6)
    assert candidates("masked-row-nan", s)[-1].text == remedytexts.SHIFT_BEFORE_CAST
    s = dataclasses.replace(s, lowest=-1e5, temperature=1.0)
    assert candidates("masked-row-nan", s)[-1].text == remedytexts.SHIFT_BEFORE_CAST


def test_centring_before_dividing_is_advised_in_float64_where_float32_takes_t_as_0() -> None:
    # torch divides float32 and narrower tensors in float32, where T = 1e-306 is 0: the centred
    # row's max is then 0 / 0 = NaN, so "centre the logits" holds only in float64 there
    got = advice(
        "shifted", "float32", ["temperature_overflow"], 1.2e-36, rel_tol=1e-3,
        largest=400.0, lowest_t=1e-306,
    )  # fmt: skip
    assert got == (
        "shifted float32: below T≈1.2e-36 dividing the logits by T overflows float32 -- "
        "centre the logits before dividing ((x - max x) / T) in float64 (float32, where torch "
        "divides float32, takes T=1e-306 as 0), or clamp T to >= 1.2e-36"
    )
    above = advice(
        "shifted", "float32", ["temperature_overflow"], 1.2e-36, rel_tol=1e-3,
        largest=400.0, lowest_t=1e-40,
    )  # fmt: skip
    assert "in float64 (float32" not in above and "centre the logits before dividing" in above
