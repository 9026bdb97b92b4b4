"""What a captured loss call returned, where its rows alone cannot tell it: the log(softmax)
trap at an nll_loss (capture/logsoftmax.py), and label smoothing, probability targets and a
batch of ignored targets at a cross_entropy (capture/losscall.py)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner

import smcheck
from smcheck.cli import cli
from smcheck.findings import remedytexts


def _nll_findings(make_lp: Any) -> dict[str, str]:
    """The input findings (kind -> message) of ``nll_loss(make_lp(x), t)``, captured, where
    row 0's target class 2 has the logit -120 (p underflows in float32) or -inf (a mask)."""
    x = torch.randn(4, 6, generator=torch.Generator().manual_seed(0)) * 3
    with smcheck.capture() as cap:
        F.nll_loss(make_lp(x), torch.tensor([2, 1, 0, 3]))
    (nll,) = [s for s in cap.analyze().sources if s.site.op == "nll_loss"]
    return {f.kind: f.message for f in nll.input.findings}


def test_nll_loss_of_log_softmax_that_underflowed_is_told_so_not_a_masked_target() -> None:
    # it said "1 row has the target at a masked class ... fix the targets or the mask": the -inf
    # was p = e^-123 rounded to 0 before torch.log, and that fix would not help
    def lp(x: Any) -> Any:
        x[0, 2] = -120.0
        return torch.log(F.softmax(x, dim=-1))

    found = _nll_findings(lp)
    assert "masked_target" not in found
    assert (
        "holds -inf at the target in 1 row where the exact log p (-123.048 in row [0]) is "
        in (found["log_underflow"])
    )
    assert found["log_underflow"].endswith(
        "finite in float32: log(softmax) underflowed at "
        f"{os.path.relpath(__file__)}:{_LOG_LINE}, so the loss is inf -- " + remedytexts.LOG_SOFTMAX
    )


_LOG_LINE = test_nll_loss_of_log_softmax_that_underflowed_is_told_so_not_a_masked_target.__code__
_LOG_LINE = _LOG_LINE.co_firstlineno + 5  # the torch.log line of its lp


@pytest.mark.parametrize("route", ["log_softmax", "log(softmax)"])
def test_nll_loss_at_a_real_mask_is_still_a_masked_target(route: str) -> None:
    def lp(x: Any) -> Any:
        x[0, 2] = -float("inf")
        if route == "log_softmax":
            return F.log_softmax(x, dim=-1)
        return torch.log(F.softmax(x, dim=-1))

    found = _nll_findings(lp)
    assert "log_underflow" not in found and "masked_target" in found


def test_nll_loss_of_log_softmax_of_a_temporary_is_told_so_not_a_masked_target() -> None:
    # F.softmax(x * 1.0): the softmax's input is freed before the loss, so no exact log p; it
    # still said "1 row has the target at a masked class ... fix the targets or the mask"
    def lp(x: Any) -> Any:
        x[0, 2] = -120.0
        return torch.log(F.softmax(x * 1.0, dim=-1))

    found = _nll_findings(lp)
    assert "masked_target" not in found
    assert found["log_underflow"].endswith(
        "holds -inf at the target in 1 row: its input is log(softmax) "
        f"({os.path.relpath(__file__)}:{_TEMP_LINE}), where p rounded to 0 or the class is "
        "masked; the exact log p is not available (the softmax's input was freed), so the loss "
        f"is inf -- {remedytexts.LOG_SOFTMAX}; if the class is masked, "
        + remedytexts.FIX_MASKED_TARGETS
    )


_TEMP_LINE = test_nll_loss_of_log_softmax_of_a_temporary_is_told_so_not_a_masked_target
_TEMP_LINE = _TEMP_LINE.__code__.co_firstlineno + 5  # the torch.log line of its lp


def test_a_masked_target_under_a_log_softmax_of_a_temporary_is_given_both_fixes() -> None:
    # /tmp/reviewJ/freedmask.py: a real mask under log(softmax(x.masked_fill(...))) was said
    # only "use log_softmax / cross_entropy", which leaves the loss inf; before log_underflow it
    # was masked_target, "fix the targets or the mask"
    def lp(x: Any) -> Any:
        mask = torch.zeros_like(x, dtype=torch.bool)
        mask[1, 1] = True
        return torch.log(F.softmax(x.masked_fill(mask, -float("inf")), dim=-1))

    found = _nll_findings(lp)
    assert "where p rounded to 0 or the class is masked" in found["log_underflow"]
    assert found["log_underflow"].endswith(
        f"-- {remedytexts.LOG_SOFTMAX}; if the class is masked, fix the targets or the mask (a "
        "label on a padded or masked class)"
    )


def _mixed_site(second: Any) -> dict[str, str]:
    """One nll_loss site of two calls: the first's log(softmax) underflowed (row 0, class 2 at
    -120), the second's row 1 has its target class 1 masked (-inf), read as ``second(x)``."""
    t = torch.tensor([2, 1, 0, 3])
    with smcheck.capture() as cap:
        for i in range(2):
            x = torch.randn(4, 6, generator=torch.Generator().manual_seed(i)) * 3
            if i == 0:
                x[0, 2] = -120.0
                lp = torch.log(F.softmax(x, dim=-1))
            else:
                x[1, 1] = -float("inf")
                lp = second(x)
            F.nll_loss(lp, t)
    (nll,) = [s for s in cap.analyze().sources if s.site.op == "nll_loss"]
    return {f.kind: f.message for f in nll.input.findings}


def test_a_real_masked_target_beside_an_underflow_counts_the_real_masks_only() -> None:
    # the real mask of the second call was dropped once the first call underflowed; then its
    # head said "2 rows have the target at a masked class (...; first row [0])", the underflow's
    # row among them and named, with "1 is log(softmax)'s, said apart" after it
    found = _mixed_site(lambda x: F.log_softmax(x, dim=-1))
    assert "holds -inf at the target in 1 row where the exact log p" in found["log_underflow"]
    assert found["masked_target"].startswith(
        "1 row has the target at a masked class (targets: the captured class targets; 1 more is "
        "log(softmax)'s underflow: see log_underflow): p = 0 there"
    )
    assert "first row" not in found["masked_target"]
    assert "said apart" not in found["masked_target"]
    assert (
        "; such rows are left out of the gradient metrics -- fix the targets or the mask"
        in (found["masked_target"])
    )


def test_a_log_softmax_of_a_freed_input_beside_an_underflow_says_it_may_be_a_mask() -> None:
    # /tmp/reviewH/mix.py: the second call's mask could not be read (its softmax input freed)
    found = _mixed_site(lambda x: torch.log(F.softmax(x * 1.0, dim=-1)))
    assert "masked_target" not in found
    assert (
        "finite in float32, and in 1 more of a log(softmax) whose softmax input was freed, where "
        "p rounded to 0 or the class is masked (the exact log p is not available): log(softmax) "
        "underflowed at "
    ) in found["log_underflow"]


def test_a_log_p_past_the_site_formats_range_is_a_mask_not_an_underflow() -> None:
    # float16: the exact log p -75504 is -inf in float16 too, so log_softmax would not cure it;
    # it said "finite in float16: log(softmax) underflowed ... use log_softmax"
    found = _float16_log_of_softmax_findings(top=10000)
    assert "log_underflow" not in found and "masked_target" in found


def test_a_log_p_that_rounds_into_the_site_formats_range_is_an_underflow_not_a_mask() -> None:
    # float16: the exact log p -65510 rounds to -65504, finite, so log_softmax returns it; the
    # range test (>= finfo.min) took the band -65520..-65504 for a mask (masked_target)
    found = _float16_log_of_softmax_findings(top=6)
    assert "masked_target" not in found
    assert "(-65510 in row [0]) is finite in float16" in found["log_underflow"]


def _float16_log_of_softmax_findings(top: float) -> dict[str, str]:
    """The nll_loss site's input findings (kind: message) for log(softmax) of float16 rows
    (0, top, -65504, 0) and (0, 0, 0, 0), the first's target at -65504: exact log p -65504 - top."""
    x = torch.zeros(2, 4, dtype=torch.float16)
    x[0, 1], x[0, 2] = top, -65504
    with smcheck.capture() as cap:
        F.nll_loss(torch.log(F.softmax(x, dim=-1)), torch.tensor([2, 1]))
    (nll,) = [s for s in cap.analyze().sources if s.site.op == "nll_loss"]
    return {f.kind: f.message for f in nll.input.findings}


def _ce_site(call: Any) -> Any:
    """The one cross_entropy site of ``call(x)``, x (4, 6) logits whose class 5 is -inf."""
    x = torch.randn(4, 6, generator=torch.Generator().manual_seed(0)) * 2
    x[:, 5] = -float("inf")
    with smcheck.capture() as cap:
        call(x)
    (ce,) = cap.analyze().sources
    return ce


def _returned(source: Any) -> str:
    [found] = [f for f in source.input.findings if f.kind.startswith("observed")]
    assert found.severity == "FAIL"
    return found.message


def test_label_smoothing_over_a_masked_class_fails_with_the_inf_the_call_returned() -> None:
    # smcheck said OK (exit 0, also --fail-on loss-inf): the cells judge -log p[target], which
    # is finite; label smoothing puts weight on the -inf class, so the call returned inf
    ce = _ce_site(lambda x: F.cross_entropy(x, torch.tensor([0, 1, 2, 3]), label_smoothing=0.1))
    assert _returned(ce).endswith(
        "returned inf as the model ran in float32: label_smoothing=0.1 puts weight 0.1/6 on every "
        "class, and there is a -inf logit in every row -- use probability targets that are 0 on "
        "the masked classes (label smoothing over the live ones) and mask with "
        "torch.finfo(torch.float32).min, a value float32 holds: 0 × -inf is NaN"
    )
    assert any(n.startswith("label_smoothing=0.1 is not modelled") for n in ce.notes)


def test_probability_targets_on_a_masked_class_fail_and_are_said_not_modelled() -> None:
    # smcheck said OK, and -v showed "targets: argmax" with no word that the call's were others
    soft = torch.softmax(torch.randn(4, 6, generator=torch.Generator().manual_seed(1)), -1)
    ce = _ce_site(lambda x: F.cross_entropy(x, soft))
    assert "returned inf as the model ran in float32: its probability targets meet a -inf " in (
        _returned(ce)
    )
    assert "cross_entropy's probability targets are not modelled: the gradient check takes " in (
        "".join(ce.notes)
    )


def test_a_call_whose_every_target_is_ignored_reports_the_nan_it_returned() -> None:
    # the call returned NaN (a mean over no row) and its site was dropped without a word
    ce = _ce_site(lambda x: F.cross_entropy(x, torch.full((4,), -100)))
    assert [f.kind for f in ce.input.findings if f.kind.startswith("observed")] == [
        "observed_loss_nan"
    ]
    assert "returned NaN as the model ran in float32: every target is ignore_index (-100), so " in (
        _returned(ce)
    )


def test_fail_on_loss_inf_counts_the_infinite_loss_a_call_returned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ls.py").write_text(
        "import torch\nx = torch.zeros(2, 3)\nx[:, 2] = float('-inf')\n"
        "torch.nn.functional.cross_entropy(x, torch.tensor([0, 1]), label_smoothing=0.1)\n"
    )
    r = CliRunner().invoke(cli, ["capture", "--isolated", "-q", "--fail-on", "loss-inf", "ls.py"])
    assert r.exit_code == 1, r.output
    assert r.stderr.endswith("smcheck capture: 1 violation\n")


LOG_SOFTMAX_AT_NLL = (
    "import torch\nimport torch.nn.functional as F\nx = torch.zeros(2, 4)\n"
    "x[0, 2] = -120.0\nF.nll_loss(torch.log(F.softmax(x, -1)), torch.tensor([2, 1]))\n"
)
"""A script whose log(softmax) underflows to -inf at nll_loss's target in row 0: an inf loss."""


def test_fail_on_loss_inf_counts_the_inf_loss_a_log_softmax_underflow_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the log_underflow FAIL says "so the loss is inf", yet --fail-on loss-inf passed (exit 0)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "lp.py").write_text(LOG_SOFTMAX_AT_NLL)
    for conditions in ("loss-inf", "fail,loss-inf"):  # one problem, one violation
        argv = ["capture", "--isolated", "-q", "--fail-on", conditions, "lp.py"]
        r = CliRunner().invoke(cli, argv)
        assert r.exit_code == 1, r.output
        assert r.stderr.endswith("smcheck capture: 1 violation\n")


def test_a_violation_line_wraps_between_words_at_columns_80_and_else_stays_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # piped at COLUMNS=80 each violation was one line of some 240 columns
    monkeypatch.chdir(tmp_path)
    (tmp_path / "lp.py").write_text(LOG_SOFTMAX_AT_NLL)
    argv = ["capture", "--isolated", "--format", "json", "--fail-on", "fail", "lp.py"]
    monkeypatch.delenv("COLUMNS", raising=False)
    summary, line, count = CliRunner().invoke(cli, argv).stderr.splitlines()
    assert "holds -inf at the target" in line and len(line) > 200
    monkeypatch.setenv("COLUMNS", "80")
    lines = CliRunner().invoke(cli, argv).stderr.splitlines()
    assert lines[0] == summary and lines[-1] == count
    assert lines[1].startswith("smcheck: ") and all(ln.startswith("  ") for ln in lines[2:-1])
    assert all(len(ln) <= 80 for ln in lines) and len(lines) > 4
    assert " ".join(ln.strip() for ln in lines[1:-1]) == line  # broken between words only


@pytest.mark.parametrize("op", ["cross_entropy", "nll_loss"])
def test_a_loss_call_reads_its_rows_once(op: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # the rows (a copy for a (N, C, L) input) were built by the sampler, by the loss-call check
    # and again by the log(softmax) check, on every call
    x = torch.randn(2, 5, 3, generator=torch.Generator().manual_seed(0))
    lp = torch.log(F.softmax(x, dim=1))
    moved = []
    movedim = torch.Tensor.movedim

    def counting(t: Any, *a: Any) -> Any:
        moved.append(t.shape)
        return movedim(t, *a)

    monkeypatch.setattr(torch.Tensor, "movedim", counting)
    with smcheck.capture():
        getattr(F, op)(lp, torch.zeros(2, 3, dtype=torch.int64))
    assert moved == [lp.shape]


_NANMIX = """import torch, torch.nn.functional as F
for i in range(2):
    x = torch.randn(4, 5, generator=torch.Generator().manual_seed(i))
    if i == 0:
        x[0, 0] = float("nan"); t = torch.tensor([0, 1, 2, 3])
    else:
        t = torch.full((4,), -100)
    F.cross_entropy(x, t)
"""
"""One site: a NaN logit in the first call (a NaN row the input explains), every target
ignored in the second (a NaN loss of no row, which no input finding explains)."""


@pytest.mark.parametrize(
    ("fail_on", "violations"), [("input,fail", 2), ("input,nan", 2), ("fail", 1)]
)
def test_a_nan_loss_of_no_row_is_not_dropped_with_the_nan_rows_the_input_explains(
    fail_on: str, violations: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # it was filed as observed_nan, the NaN rows' kind: input,fail gave 1 violation (the
    # ignore_index NaN dropped with the input's NaN) and input,nan showed only the row's cause
    monkeypatch.chdir(tmp_path)
    (tmp_path / "nanmix.py").write_text(_NANMIX)
    r = CliRunner().invoke(cli, ["capture", "--isolated", "--fail-on", fail_on, "nanmix.py"])
    assert r.exit_code == 1, r.output
    assert r.stderr.endswith(f"smcheck capture: {violations} violation{'s' * (violations > 1)}\n")
    assert "every target is ignore_index (-100), so its mean is over no row (0/0)" in r.stderr
