"""Cross-entropy gradients (issue 3): hand-derived counts, the exact gradient against mpmath,
the classic -999 example end to end, chunk-size invariance, and the strict model's null."""

from __future__ import annotations

import io
import json
from pathlib import Path

import mpmath
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from smcheck import analyze
from smcheck.analysis.cells import Block
from smcheck.analysis.gradients import backprop, exact_gradient
from smcheck.cli import cli
from smcheck.dtypes import get_format
from smcheck.errors import ExitCode
from smcheck.methods import METHODS, SoftmaxMethod, framework
from smcheck.methods.base import MethodOutput
from smcheck.reference.exact import exact_softmax, working_dtype
from smcheck.report.model import GradientMetrics, Report, Verdict
from tests.conftest import DTYPES, cell

mpmath.mp.dps = 50
U = 2.0**-24  # float16's smallest subnormal


def grad(report: Report, method: str, dtype: str) -> GradientMetrics:
    g = cell(report, method, dtype).gradient
    assert g is not None
    return g


def run(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


# ------------------------------------------------------------------ the classic -999 example


def test_issue3_classic_example_in_float64_from_the_cli() -> None:
    # the issue's example: target -999 (argmin); log-softmax route finite, log(softmax) infinite
    r = run("analyze", "--values", "-999,1,2,5,6", "--targets", "argmin", "--format", "json")
    assert r.exit_code == ExitCode.OK, r.output
    cells = {
        c["method"]: c
        for c in json.loads(r.stdout)["sources"][0]["cells"]
        if c["dtype"] == "float64"
    }
    for m in ("logdomain", "torch"):
        g = cells[m]["gradient"]
        assert g["target"] == "argmin"
        assert g["loss_inf"]["elements"] == 0 and g["nan"]["elements"] == 0
        # mpmath mp.dps=50: logsumexp(-999,1,2,5,6) + 999 = 1005.33141161543602...
        assert g["losses"][0] == pytest.approx(1005.3314116154360, abs=1e-12)
        assert g["gradients"][0] == pytest.approx(
            [-1, 0.0048372, 0.0131490, 0.2641042, 0.7179096], abs=5e-8
        )
        assert cells[m]["verdict"] == "OK"
    for m in ("naive", "shifted"):
        g = cells[m]["gradient"]
        assert g["losses"] == ["inf"]
        assert g["loss_inf"] == {"elements": 1, "rows": 1, "worst_row": [0]}
        # d log(p)/dp = 1/p at p = 0: the whole row's gradient is NaN
        assert g["nan"] == {"elements": 5, "rows": 1, "worst_row": [0]}
        assert cells[m]["verdict"] == "FAIL"
        assert any(
            "loss is infinite" in s and "instead of log(softmax)" in s for s in cells[m]["reasons"]
        )


def test_issue3_classic_example_exact_gradient_is_mpmath_rounded() -> None:
    g = grad(
        analyze([[-999.0, 1, 2, 5, 6]], targets="argmin", dtypes=["float64"]), "torch", "float64"
    )
    xs = [mpmath.mpf(v) for v in (-999, 1, 2, 5, 6)]
    lse = mpmath.log(mpmath.fsum(mpmath.exp(v) for v in xs))
    p = [mpmath.exp(v - lse) for v in xs]
    want = [float(p[0] - 1)] + [float(v) for v in p[1:]]
    assert g.exact_gradients == [want]  # exact agreement: every element correctly rounded
    assert g.exact_losses == [float(lse + 999)]


def test_classic_example_table_shows_loss_and_gradient() -> None:
    r = run("analyze", "--values", "-999,1,2,5,6", "--targets", "argmin", "-v")
    assert r.exit_code == ExitCode.OK, r.output
    out = r.stdout
    assert "Gradients of -log p[target] (targets: argmin" in out
    assert "1005.3314" in out and "0.0048372" in out
    assert max(len(line) for line in out.splitlines()) <= 100


# ---------------------------------------------------------------------- exact gradient


def _mp(v: np.floating) -> mpmath.mpf:
    """Exact value of a float64 or long double (its shortest round-trip decimal)."""
    return mpmath.mpf(np.format_float_scientific(v, unique=True))


def _mp_gradient(row: np.ndarray, t: int) -> tuple[list[mpmath.mpf], mpmath.mpf]:
    xs = [mpmath.mpf(float(v)) for v in row]
    lse = mpmath.log(mpmath.fsum(mpmath.exp(v) for v in xs))
    p = [mpmath.exp(v - lse) for v in xs]
    return [pj - (1 if j == t else 0) for j, pj in enumerate(p)], lse - xs[t]


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_exact_gradient_agrees_with_mpmath(dtype: str) -> None:
    f = get_format(dtype)
    rng = np.random.default_rng(3)
    x = f.round(
        np.array(
            [
                rng.normal(0, 4, 8),
                [40.0, 0, 1, -3, 2, 0.5, -1, 0],  # p[0] within 1e-17 of 1: loss and g[0] tiny
                [-999.0, 1, 2, 5, 6, 0, 0, 0],
                [-25.0, 0, 25, 50, 1, 325, 749, 750],
            ]
        )
    )
    ref = exact_softmax(x.astype(working_dtype(f)))
    n = x.shape[0]
    valid, live = np.ones(n, bool), np.ones(x.shape, bool)
    for targets in (np.argmax(x, -1), np.argmin(x, -1), np.arange(n)):
        e = exact_gradient(Block(0, f, valid, live, ref, np.zeros(x.shape, bool)), targets)
        g = e.values()
        eps = float(np.finfo(working_dtype(f)).eps)
        # below the working precision's range p is 0 (e^-1005 in float64): far below f's range
        tiny = _mp(np.finfo(working_dtype(f)).smallest_subnormal)
        for i in range(n):
            want, loss = _mp_gradient(x[i], int(targets[i]))
            # reference.py's bound (|log p| + 8) eps, plus the sum of the other p's for g[t]
            tol = (float(max(abs(v) for v in np.asarray(ref.logp[i], float))) + 8 + 8) * eps
            for j, w in enumerate(want):
                assert abs(_mp(g[i, j]) - w) <= tol * abs(w) + tiny, (i, j)
            assert abs(_mp(e.loss[i]) - loss) <= tol * loss, i


# -------------------------------------------------------------- hand-derived float16 counts

# float16: smallest subnormal U = 2^-24, so an exact gradient rounds to nonzero iff
# |g| > U/2 = 2^-25, i.e. ln|g| > -17.33 nats. Rows [0, -a, -a, -a], target the 0 (argmax):
#   exact gradient (-r, p, p, p) with p = e^-a / (1 + 3e^-a), r = 3p.
#   a = 17  : p = 4.1e-8 > U/2  -> every element representable.
#   a = 17.5: p = 2.5e-8 < U/2, r = 7.5e-8 > U/2 -> only the target's -r is representable.
#   [0, -18, -18, -30]: r = 2 e^-18 = 3.05e-8 > U/2 (ln r = -17.31) -> only -r representable.
#   a = 20  : r = 6.2e-9 < U/2 -> the exact gradient rounds to all zeros (nothing to lose).
# logdomain's autograd (d = x - m, z = d - log(sum exp d)):
#   grad_d = -onehot + exp(d)/S with S = 1 in float16, then the max's share gives
#   g[0] = -(sum of the others' exp(d)) and g[j] = fl16(e^-a).
#   a = 17: (-3U, U, U, U): nothing dead. a = 17.5 and the -18 row: fl16(e^-a) = 0, so the whole
#   gradient is 0 while -r is representable: 1 dead element each, both rows vanished.
# naive/shifted take log(p): for a >= 17.5 some p rounds to 0 and d log(p)/dp = 0/0 = NaN
#   poisons the row (rows 1, 2, 3: 4 + 4 + 4 NaN elements). For a = 17 p = (1, U, U, U):
#   naive's backward gives g[0] = grad_w[0] * w[0] with grad_w[0] = 1/S - 1/S = 0 -> dead;
#   shifted's max-subtraction routes -(sum of the others) to g[0] -> (-3U, U, U, U).
# Every row is saturated: r <= 2^-12 = u/2, so p_max rounds to 1 in float16.
ROWS16 = np.array(
    [[0, -17, -17, -17], [0, -17.5, -17.5, -17.5], [0, -18, -18, -30], [0, -20, -20, -20]]
)


@pytest.fixture(scope="module")
def rows16() -> Report:
    return analyze(ROWS16, dtypes=["float16"])


def test_float16_logdomain_dead_gradients_around_17_33_nats(rows16: Report) -> None:
    g = grad(rows16, "logdomain", "float16")
    assert (g.dead.elements, g.dead.rows, g.dead.worst_row) == (2, 2, (1,))
    assert (g.vanished_rows, g.vanished_first_row) == (2, (1,))
    assert g.nan.elements == 0 and g.loss_inf.rows == 0
    assert (g.saturated_rows, g.saturated_first_row) == (4, (0,))
    assert g.gradients is not None
    assert np.array_equal(np.array(g.gradients[0]) / U, [-3, 1, 1, 1])
    assert g.max_rel_error == 1.0  # a vanished gradient has lost all of its norm
    c = cell(rows16, "logdomain", "float16")
    # what the dead elements lose (3 subnormals) is far below u at the gradient's scale 1: a NOTE
    assert c.verdict is Verdict.OK and g.dead_max is not None and g.dead_max < U * 4
    (dead,) = [f for f in c.findings if f.cause == "dead-gradient"]
    assert dead.severity == "NOTE" and "exactly 0" in dead.message
    # they lose up to 7.5e-8, under float32's 4u: not analysed, float32 is guessed to lose them
    # too (settling._matters_in); analysed, it is seen to keep them and is advised
    assert dead.remedy == "compute the softmax and loss in float64"
    wide = analyze(ROWS16, dtypes=["float16", "float32"], methods=["logdomain"])
    (dead,) = [f for f in wide.sources[0].cells[0].findings if f.cause == "dead-gradient"]
    assert dead.remedy == "compute the softmax and loss in float32"
    assert "dead-gradient" not in {f.cause for f in wide.sources[0].cells[1].findings}


def test_float16_log_route_nan_and_dead_counts(rows16: Report) -> None:
    naive, shifted = grad(rows16, "naive", "float16"), grad(rows16, "shifted", "float16")
    assert (naive.nan.elements, naive.nan.rows, naive.nan.worst_row) == (12, 3, (1,))
    assert (naive.dead.elements, naive.dead.rows, naive.dead.worst_row) == (1, 1, (0,))
    assert (shifted.nan.elements, shifted.nan.rows) == (12, 3)
    assert shifted.dead.elements == 0
    assert shifted.gradients is not None
    assert np.array_equal(np.array(shifted.gradients[0]) / U, [-3, 1, 1, 1])
    c = cell(rows16, "shifted", "float16")
    assert c.verdict is Verdict.FAIL
    assert any("NaN" in s and "instead of log(softmax)" in s for s in c.reasons)


def test_bfloat16_dead_gradients_around_92_88_nats() -> None:
    # bfloat16: smallest subnormal B = 2^-133, so |g| rounds to nonzero iff ln|g| > ln(2^-134)
    # = -92.88 nats. [0, -92.5 x3]: p = 6.8e-41 > B/2 = 4.6e-41, all representable;
    # logdomain gives (-3B, B, B, B). [0, -93.5 x3]: p = 2.5e-41 < B/2 but r = 7.5e-41 > B/2:
    # the computed gradient is all 0 (exp underflows, S = 1) -> 1 dead, vanished.
    # [0, -94 x3]: r = 4.5e-41 < B/2: all-zero is the correct rounding.
    x = np.array([[0, -92.5, -92.5, -92.5], [0, -93.5, -93.5, -93.5], [0, -94, -94, -94]])
    r = analyze(x, dtypes=["bfloat16"])
    g = grad(r, "logdomain", "bfloat16")
    assert (g.dead.elements, g.dead.rows, g.dead.worst_row) == (1, 1, (1,))
    assert (g.vanished_rows, g.saturated_rows) == (1, 3)
    assert g.gradients is not None
    assert np.array_equal(np.array(g.gradients[0]) / 2.0**-133, [-3, 1, 1, 1])
    naive = grad(r, "naive", "bfloat16")
    assert (naive.nan.elements, naive.nan.rows, naive.dead.elements) == (8, 2, 1)


@pytest.mark.parametrize("dtype", DTYPES)
def test_saturation_starts_where_one_minus_p_max_is_half_a_unit_roundoff(dtype: str) -> None:
    # two classes [0, -a]: 1 - p_max = e^-a / (1 + e^-a); p_max rounds to 1 iff that <= u/2,
    # i.e. a >~ ln(2/u): float16 8.32, bfloat16 6.24, float32 17.33, float64 37.43 nats
    a = np.array([6.0, 6.5, 8.0, 8.5, 17.0, 17.5, 37.0, 37.5])
    x = np.stack([np.zeros_like(a), -a], axis=1)
    g = grad(analyze(x, dtypes=[dtype], methods=["logdomain"]), "logdomain", dtype)
    expected = {"float16": 5, "bfloat16": 7, "float32": 3, "float64": 1}[dtype]
    assert g.saturated_rows == expected
    assert g.saturated_first_row == (len(a) - expected,)


def test_saturation_counts_a_lead_beyond_float64s_range_in_every_format() -> None:
    # [0, -800]: 1 - p_max = e^-800 / (1 + e^-800) < 2^-1074 <= u/2 in every format, so p_max
    # rounds to 1; its rest underflowed float64 to 0 and the row was not counted. [0, -40]:
    # e^-40 = 4.2e-18 <= u/2 = 2^-54 even in float64. Both rows count, row 0 first
    r = run("analyze", "--values", "0,-800;0,-40", "--method", "torch", "--format", "json")
    assert r.exit_code == ExitCode.OK, r.output
    cells = json.loads(r.stdout)["sources"][0]["cells"]
    assert sorted(c["dtype"] for c in cells) == sorted(DTYPES)
    for c in cells:
        assert c["metrics"]["saturated"] == {"rows": 2, "worst_row": [0]}, c["dtype"]
        g = c["gradient"]
        assert (g["saturated_rows"], g["saturated_first_row"]) == (2, [0]), c["dtype"]


def test_a_row_with_one_live_entry_is_not_saturated() -> None:
    # p_max is exactly 1 (no other class, or every other masked): nothing rounds, nothing lost
    for x in (np.array([[0.0, -np.inf], [3.0, -np.inf]]), np.array([[0.0], [3.0]])):
        for c in analyze(x, methods=["torch"], use="loss").cells:
            assert c.metrics.saturated is not None and c.metrics.saturated.rows == 0, c.dtype
            assert c.gradient is not None and c.gradient.saturated_rows == 0, c.dtype


def test_saturation_at_a_low_temperature_counts_every_row_within_u_half_of_1() -> None:
    # normal logits / 0.001 in float32: the rows whose exact 1 - p_max <= 2^-25, i.e. whose
    # log(1 - p_max) = log S - log1p(S), S = sum_j e^(q_j - q_max) over the others, is at most
    # -25 ln 2 (the leads are 12.6 nats, then 38 and more: no row near the limit). 25 of the
    # 99 lead by over 745 nats, where 1 - p_max underflows float64 (74 were counted)
    from smcheck.sources.generators import generate_logits

    x = generate_logits("normal", shape=(100, 10))
    q = (torch.from_numpy(x) / 0.001).double().numpy()  # fl(x/T) in float32, as the cell's
    d = np.sort(q, axis=-1)[:, :-1] - q.max(-1, keepdims=True)
    log_s = np.logaddexp.reduce(d, axis=-1)
    expected = int(np.count_nonzero(log_s - np.log1p(np.exp(log_s)) <= -25 * np.log(2.0)))
    assert expected == 99 and np.count_nonzero(d[:, -1] < -745) == 25
    spec = "gen:normal:shape=100x10"
    rep = analyze(spec, dtypes=["float32"], methods=["torch"], temperatures=[0.001])
    c = cell(rep, "torch", "float32", 0.001)
    assert c.metrics.saturated is not None and c.metrics.saturated.rows == expected
    assert c.gradient is not None and c.gradient.saturated_rows == expected


# ---------------------------------------------------------------- routes, masks, targets


@pytest.mark.parametrize("dtype", DTYPES)
def test_torch_method_gradient_is_f_cross_entropy(dtype: str) -> None:
    fmt = get_format(dtype)
    rng = np.random.default_rng(5)
    x = fmt.round(np.concatenate([rng.normal(0, 6, (6, 9)), [[30.0, 0, -30, 1, 2, 3, 4, 5, 6]]]))
    target = rng.integers(0, 9, x.shape[0])
    xt = torch.from_numpy(x).to(fmt.torch_dtype())
    res, g = backprop(METHODS["torch"].framework, xt, target)
    leaf = xt.detach().requires_grad_()
    loss = torch.nn.functional.cross_entropy(leaf, torch.from_numpy(target), reduction="none")
    loss.sum().backward()
    assert g is not None and leaf.grad is not None
    assert torch.equal(g, leaf.grad)
    mine = -res.logp.detach()[torch.arange(x.shape[0]), torch.from_numpy(target)]
    assert torch.equal(mine, loss.detach())


def test_masks_poison_the_log_route_but_not_log_softmax() -> None:
    # a -inf mask gives p = 0 exactly; d log(p)/dp = 0/0 = NaN spreads over the row through the
    # shared sum, while log_softmax's backward gives the mask exactly 0
    r = analyze([[0.0, 1, -np.inf, 3]], dtypes=["float32"], use="loss")
    for m in ("naive", "shifted"):
        assert grad(r, m, "float32").nan.elements == 4, m
    # a finite sentinel mask (-1e4, twice) underflows to p = 0 the same way
    s = analyze([[-1e4, -1e4, 1.0, 2.0]], dtypes=["float32"], use="loss")
    assert grad(s, "shifted", "float32").nan.elements == 4
    assert cell(s, "shifted", "float32").verdict is Verdict.FAIL
    assert grad(s, "torch", "float32").nan.elements == 0
    for m in ("logdomain", "torch"):
        g = grad(r, m, "float32")
        assert g.nan.elements == 0 and g.gradients is not None
        assert g.gradients[0][2] == 0.0
        assert g.max_rel_error is not None and g.max_rel_error < 1e-6


def test_masked_target_rows_are_left_out() -> None:
    x = np.array([[0.0, -np.inf, 1.0], [0.0, 2.0, 1.0]])
    r = analyze(x, targets=np.array([1, 1]), dtypes=["float32"], use="loss")
    g = grad(r, "logdomain", "float32")
    assert (g.rows_checked, g.masked_target_rows, g.loss_inf.rows) == (1, 1, 0)


def test_masked_target_rows_are_one_input_finding_failing_under_loss() -> None:
    # review 40c: 3 of 4 rows with a target at a -inf class were dropped with a word only in the
    # -v gradient table's caption; torch's cross_entropy is +inf there (the data's, any method)
    x = np.array(
        [
            [2.0, 1, -np.inf, 0, 0.5],
            [1, -np.inf, 3, 0, 0],
            [0.5, 1, 2, -np.inf, 0],
            [3, 0, -np.inf, -np.inf, 1],
        ]
    )
    t = np.array([2, 1, 0, 3])
    loss = torch.nn.functional.cross_entropy(
        torch.from_numpy(x), torch.from_numpy(t), reduction="none"
    )
    assert torch.isinf(loss).tolist() == [True, True, False, True]
    src = analyze(x, targets=t, use="loss").sources[0]
    for c in src.cells:
        assert c.gradient is not None
        assert (c.gradient.masked_target_rows, c.gradient.masked_target_first_row) == (3, (0,))
    (f,) = [f for f in src.input.findings if f.kind == "masked_target"]
    assert f.severity == "FAIL" and src.verdict is Verdict.FAIL
    assert f.message.startswith(
        "3 rows have the target at a masked class (targets: <array>; first row [0]): p = 0 "
        "there, so the cross-entropy is infinite (or, for a sentinel mask, huge) in any method; "
        "they are left out of the gradient metrics -- fix the targets or the mask"
    )
    # gradients taken under another use (auto: probs for a masked input): said, not judged
    probs = analyze(x, targets=t, gradients=True).sources[0]
    assert [f.severity for f in probs.input.findings if f.kind == "masked_target"] == ["INFO"]
    # no gradients, no targets read: nothing to say
    assert not [
        f for f in analyze(x, targets=t).sources[0].input.findings if f.kind == "masked_target"
    ]


@pytest.mark.parametrize("targets", ["argmax", "argmin"])
def test_a_row_of_masks_only_has_no_masked_target(targets: str) -> None:
    # review 40j: a padded row of -1e9 (its softmax 1/8 each, torch's cross_entropy log 8) read
    # as "up to 1 row has the target at a masked class ... the cross-entropy is infinite", a
    # FAIL: its argmax (argmin) lands on a mask as every class is one; no class is live there
    x = np.random.default_rng(0).normal(size=(4, 8)).astype(np.float32)
    x[1, -3:] = -1e9
    x[2] = -1e9
    ce = torch.nn.functional.cross_entropy(torch.from_numpy(x[2:3]), torch.tensor([0]))
    assert abs(float(ce) - np.log(8)) < 1e-6
    src = analyze(x, targets=targets, use="loss").sources[0]
    assert not [f for f in src.input.findings if f.kind == "masked_target"]
    for c in src.cells:
        if c.gradient is not None and c.dtype != "float16":  # float16 masks row 2 fully
            assert (c.gradient.masked_target_rows, c.gradient.rows_checked) == (0, 3)
    # a target at a mask beside live classes is still one
    t = np.array([0, 7, 0, 0])
    g = grad(analyze(x, targets=t, use="loss"), "torch", "float32")
    assert (g.masked_target_rows, g.masked_target_first_row, g.rows_checked) == (1, (1,), 2)


def test_check_fails_on_masked_targets_by_default(tmp_path: Path) -> None:
    x = np.array([[0.0, -np.inf, 1.0], [0.0, 2.0, 1.0]])
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "t.npy", np.array([1, 1]))
    r = run("check", str(tmp_path / "x.npy"), "--use", "loss", "--targets", str(tmp_path / "t.npy"))
    assert r.exit_code == ExitCode.FINDINGS, r.output
    assert "1 row has the target at a masked class" in " ".join(r.stdout.split())


def test_saturated_rows_are_split_by_what_their_gradient_keeps() -> None:
    # naive float32 (torch autograd of log(exp(x) / sum)): row 0 to class 1 loses x[0]'s 1 (s^2
    # overflows in the division's backward), row 1 keeps its gradient within u/2, row 2 is NaN
    x = np.array([[60.5, 0, 0, 0, 1], [30.0, 0, 0, 0, 0], [100.0, 0, 0, 0, 0]])
    t = np.array([1, 0, 0])
    g = grad(analyze(x, targets=t, dtypes=["float32"], methods=["naive"]), "naive", "float32")
    assert g.gradients is not None and g.gradients[0] == [0.0, -1.0, 0.0, 0.0, 0.0]
    assert (g.saturated_rows, g.saturated_nan_rows, g.saturated_lossy_rows) == (3, 1, 1)
    assert g.saturated_lost == 1.0
    # torch's log_softmax keeps all three within u/2
    k = grad(analyze(x, targets=t, dtypes=["float32"], methods=["torch"]), "torch", "float32")
    assert (k.saturated_rows, k.saturated_nan_rows, k.saturated_lossy_rows) == (3, 0, 0)
    assert k.saturated_lost is None


def test_the_gradient_table_counts_one_masked_target_row_as_1_row() -> None:
    # its caption said "1 rows with a masked target left out"
    from rich.console import Console

    from smcheck.report.terminal.tables import gradient_table

    x = np.array([[0.0, -np.inf, 1.0], [0.0, 2.0, 1.0]])
    s = analyze(x, targets=np.array([1, 1]), dtypes=["float32"], use="loss").sources[0]
    con = Console(width=300, record=True, file=io.StringIO())
    con.print(gradient_table(s))
    assert "(targets: <array>, 1 row with a masked target left out;" in con.export_text()


def test_argmin_skips_masks_and_softmin_flips_targets() -> None:
    x = np.array([[0.0, -np.inf, 1.0, 3.0]])
    g = grad(analyze(x, targets="argmin", dtypes=["float64"], use="loss"), "torch", "float64")
    assert g.exact_gradients is not None and g.exact_gradients[0][0] < 0  # class 0, not the mask
    # a finite sentinel mask (-1e4 twice) is passed over as well: the target is class 2
    s = grad(analyze([[-1e4, -1e4, 1.0, 2.0]], targets="argmin", use="loss"), "torch", "float64")
    assert s.rows_checked == 1 and s.masked_target_rows == 0
    assert s.exact_gradients is not None and s.exact_gradients[0][2] < 0
    # softmin analyses -x: its argmax is x's argmin
    a = analyze([[1.0, 2.0, 5.0]], softmin=True, dtypes=["float64"]).to_dict()
    b = analyze([[-1.0, -2.0, -5.0]], dtypes=["float64"]).to_dict()
    assert a["sources"][0]["cells"] == b["sources"][0]["cells"]


def test_gradient_metrics_do_not_depend_on_chunk_size() -> None:
    rng = np.random.default_rng(11)
    x = rng.normal(0, 8, (13, 6))
    x[2, 1] = -np.inf
    x[4] = [np.nan, 0, 0, 0, 0, 0]
    x[5] = [60.0, -20, -18, -17.5, 0, 1]
    x[9] = [-999.0, 1, 2, 5, 6, 0]
    targets = rng.integers(0, 6, 13)
    targets[2] = 1  # a masked target
    # critical=False: the critical temperatures have chunk tests in test_temperature/test_masks
    kw = {"temperatures": [0.5, 1], "critical": False, "use": "loss"}
    for t in ("argmin", targets):
        whole = analyze(x, targets=t, chunk_rows=100, **kw).to_dict()
        for chunk_rows in (1, 3, 7):
            part = analyze(x, targets=t, chunk_rows=chunk_rows, **kw).to_dict()
            assert part == whole, chunk_rows


# ------------------------------------------------------------------ switches and models


def test_no_gradients_gives_null_and_no_section() -> None:
    r = analyze([[1.0, 2.0, 3.0]], gradients=False)
    assert all(c.gradient is None for c in r.cells)
    out = run("analyze", "--values", "1,2,3", "--no-gradients")
    assert out.exit_code == ExitCode.OK, out.output
    assert "Gradients" not in out.stdout
    doc = json.loads(run("analyze", "--values", "1,2", "--no-gradients", "--format", "json").stdout)
    assert all(c["gradient"] is None for c in doc["sources"][0]["cells"])


def _strict_shifted(x: np.ndarray, fmt, ftz: bool) -> MethodOutput:  # type: ignore[no-untyped-def]
    with np.errstate(under="ignore"):
        w = fmt.round(np.exp(x - x.max(-1, keepdims=True)))
        p = fmt.round(w / fmt.round(w.sum(-1, keepdims=True)))
    with np.errstate(divide="ignore"):
        return MethodOutput(p=p, logp=fmt.round(np.log(p)))


def test_strict_model_reports_gradients_as_not_computed(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = SoftmaxMethod("fake", "test double", "log(p)", framework.shifted, _strict_shifted)
    monkeypatch.setitem(METHODS, "fake", fake)
    r = analyze([[1.0, 2.0, 30.0]], methods=["fake"], model="strict")
    assert all(c.gradient is None for c in r.cells)
    fw = analyze([[1.0, 2.0, 30.0]], methods=["fake"])
    assert all(c.gradient is not None for c in fw.cells)
    # the real strict model (no autograd) too
    real = analyze([[-999.0, 1, 2, 5, 6]], model="strict", targets="argmin", dtypes=["float16"])
    assert real.cells and all(c.gradient is None for c in real.cells)


def test_method_without_autograd_reports_null(monkeypatch: pytest.MonkeyPatch) -> None:
    def detached(x: torch.Tensor) -> framework.TorchResult:
        r = framework.fused(x)
        return framework.TorchResult(r.p.detach(), r.logp.detach(), nan_cause=r.nan_cause)

    monkeypatch.setitem(METHODS, "flat", SoftmaxMethod("flat", "test", "log-softmax", detached))
    r = analyze([[1.0, 2.0]], methods=["flat", "torch"], dtypes=["float32"])
    assert cell(r, "flat", "float32").gradient is None
    assert cell(r, "torch", "float32").gradient is not None


def test_gradient_table_fits_100_columns_with_temperatures() -> None:
    r = run("analyze", "gen:llm:shape=3x64,seed=2", "--temperature", "0.5,1,2", "-v")
    assert r.exit_code == ExitCode.OK, r.output
    assert "Gradients of -log p[target] (targets: argmax" in r.stdout
    assert max(len(line) for line in r.stdout.splitlines()) <= 100


def test_check_reads_the_gradient_metrics(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    np.save("m.npy", np.array([[-999.0, 1, 2, 5, 6]]))
    args = ["check", "m.npy", "--isolated", "--dtype", "float64", "--fail-on", "loss-inf"]
    args += ["--method", "naive,shifted,logdomain,torch"]  # named: every one is checked
    r = run(*args, "--targets", "argmin", "--format", "json")
    assert r.exit_code == ExitCode.FINDINGS, r.output
    doc = json.loads(r.stdout)
    assert [(v["method"], v["condition"]) for v in doc["violations"]] == [
        ("naive", "loss-inf"),
        ("shifted", "loss-inf"),
    ]
    assert run(*args, "--targets", "argmax").exit_code == ExitCode.OK


def test_gradient_json_meets_the_schema_and_catches_renames() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    from importlib.resources import files

    schema = json.loads(files("smcheck").joinpath("schema.json").read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    # small input (per-row losses and gradients with "inf"/"nan"), a mask, an infinite loss
    r = run(
        "analyze",
        "--values",
        "-999,1,2,5,6;0,-inf,3,1,2",
        "--targets",
        "argmin",
        "--use",
        "loss",
        "--format",
        "json",
    )
    assert r.exit_code == ExitCode.OK, r.output
    doc = json.loads(r.stdout)
    assert list(validator.iter_errors(doc)) == []
    g = doc["sources"][0]["cells"][0]["gradient"]
    for name in ("dead", "loss_inf", "vanished_rows", "saturated_rows", "max_rel_error"):
        g[name + "_renamed"] = g.pop(name)
        assert list(validator.iter_errors(doc)), name
        g[name] = g.pop(name + "_renamed")


def test_a_nan_row_is_left_out_of_the_gradient_error_even_where_the_exact_one_is_zero() -> None:
    # row 0: p = (1, 0, 0) exactly in float64 terms, so g = 0; shifted float16's is NaN there
    rep = analyze(
        [[60000.0, -60000.0, 0.0], [1.0, 2.0, 3.0]], dtypes=["float16"], methods=["shifted"]
    )
    g = rep.sources[0].cells[0].gradient
    assert g is not None and g.nan.rows == 1 and g.nan.worst_row == (0,)
    assert g.max_rel_error is not None and g.max_rel_error < 1 and g.max_rel_error_row == (1,)


def test_a_loss_beyond_the_format_is_inf_correctly_rounded_not_loss_inf() -> None:
    # argmin's exact loss on (60000, -60000) is 1.2e5: float16 holds nothing that large
    rep = analyze([[60000.0, -60000.0], [1.0, 2.0]], dtypes=["float16"], methods=["torch"],
                  targets="argmin", use="loss")  # fmt: skip
    g = rep.sources[0].cells[0].gradient
    assert g is not None and g.loss_inf.rows == 0
    assert "loss-inf" not in {f.cause for f in rep.sources[0].cells[0].findings}
