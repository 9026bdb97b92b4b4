"""Rounding-error bounds per row and method (Blanchard, Higham & Higham 2021) and conditioning.

Every bound is normwise, ``||p̂ - p||_inf / ||p||_inf <= B·u`` with u = 2^-t, for the algorithm
the method runs under each arithmetic model. The first-order term T is derived for the exact
operation sequence (docs/higham2021.md gives the derivations and the paper's figures beside
them); ``c`` is the relative error of one exp/log in units of u. Three additions turn T into a
bound that a correct implementation cannot exceed:

* second order: the neglected terms are O((Tu)^2). Where every error is a product of factors
  (1 + δ) or e^{±|d|u} (naive, shifted, online), the exact form is Higham's γ: T/(1 - Tu). The
  log-domain routes also pass errors through log and back through exp; T/(1 - 4Tu) dominates
  their second-order terms for Tu < 1/4. A row whose denominator is <= 0, or whose bound
  reaches 1/u (a normwise error of 1: not one correct digit), is *vacuous*: the bound says
  nothing (this includes every row with n >= 1/u).
* underflow: a result below the smallest normal has an absolute, not relative, error (tiny·u,
  or up to tiny when flushed); U charges it for every intermediate that can land there.
* the reference: its own error, (ln n + 9)·eps of its working precision, in units of u.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from smcheck.dtypes import FloatFormat
from smcheck.methods.strictops import fn_error
from smcheck.reference.doubledouble import DDReference
from smcheck.reference.exact import Reference

Array = npt.NDArray[np.float64]

FORMULAS: dict[str, str] = {
    "naive": "(n + 1 + 2c)u",
    "shifted": "(n + 2c + 2D)u",
    "logdomain": "(2D + (1+c)b + (1 - p_max)(D + c + n - 2) + c)u",
    "lse-direct": "((1 - p_max)(D + c + n - 2) + c·b + |y| + (y - x_min) + c)u",
    "online": "(n + 2c + 2D + r(c+1))u",
}
"""The first-order bound T·u of each analysed method under the strict model: at c = 1 the
paper's (n+3)u (Thm 3.3) and (n+2+2(x_max-x_min))u (Thm 4.3) for naive and shifted. D = x_max -
x_min, y = logsumexp(x), b = y - x_max, r = rises of the running max, n = finite entries."""

FRAMEWORK_FORMULAS: dict[str, str] = {
    **FORMULAS,
    "logdomain": "(2D + (1+c)b + (D + c + n - 1) + c)u",
    "lse-direct": "((D + c + n - 1) + c·b + |y| + (y - x_min) + c)u",
    "online": "(n + 2c + 2D + (r+1)(c+1))u",
}
"""The framework model's forms: PyTorch takes log of the whole sum and runs online by blocks."""


def formula(method: str, model: str) -> str | None:
    """The first-order bound's formula for a method under a model (None: no analysed algorithm)."""
    return (FORMULAS if model == "strict" else FRAMEWORK_FORMULAS).get(method)


SECOND_ORDER = {"naive": 1.0, "shifted": 1.0, "online": 1.0, "logdomain": 4.0, "lse-direct": 4.0}


def framework_fn_error(fmt: FloatFormat) -> float:
    """exp/log error of PyTorch's CPU kernels in units of u: 16-bit formats are computed in
    float32 (within 2 ulps) and rounded once; float32/float64 kernels (Sleef, within 1 ulp)
    are charged 2 ulps."""
    return 1.0 + 4 * 2.0 ** (fmt.t - 24) if fmt.t < 24 else 4.0


@dataclass(frozen=True)
class RowFeatures:
    """Per-row quantities of one chunk that the bounds need (float64, one value per row)."""

    n: Array
    """Live (finite) entries."""
    top: Array
    """x_max."""
    span: Array
    """D = x_max - x_min."""
    lse: Array
    """y = logsumexp(x) (exact)."""
    b: Array
    """y - x_max = log sum exp(x - x_max) >= 0."""
    pmax: Array
    """The largest exact probability, exp(-b)."""
    rises: Array
    """Times the running maximum strictly increases after the first live entry."""
    big_rises: Array
    """Rises so large that exp(m_old - m_new) can underflow."""
    k_sum: Array
    """Entries whose exp(x_i - x_max) can fall below the smallest normal."""
    k_naive: Array
    """Entries whose exp(x_i) can fall below the smallest normal."""
    out_under: npt.NDArray[np.bool_]
    """Some exact probability can round below the smallest normal."""
    cond: Array
    """``max_j (g_j / g_max)·[d_j(1 - g_j) + sum_{i != j} g_i d_i]`` with d = x_max - x: the
    normwise relative condition number of softmax for relative perturbations of the shifted
    logits x - x_max (softmax is shift invariant, so a stable algorithm's first step is that
    shift; without it any row of large logits would count as ill-conditioned): a relative
    change u in every x_i - x_max moves p by at most this many u in ``||·||_inf / ||p||_inf``."""
    ref_allow: Array
    """The reference's own error in units of u."""


def _exact_pieces(ref: Reference) -> tuple[np.ndarray, np.ndarray, float]:
    """p and log p as float64, and the reference's own epsilon (of the dtype of ``ref.p``).

    The double-double reference's long-double p is never built: its float64 roundings serve.
    """
    if isinstance(ref, DDReference):
        return ref.p_hi, ref.logp_hi, float(np.finfo(np.longdouble).eps)
    return ref.p, ref.logp, float(np.finfo(ref.p.dtype).eps)


def row_features(
    x: npt.NDArray[np.floating], ref: Reference, live: npt.NDArray[np.bool_], fmt: FloatFormat
) -> RowFeatures:
    """The per-row quantities for a chunk of (scaled) logits already in the format.

    One kernel (smcheck.kernels.bounds.row_features) reads the chunk once; its sums are
    compensated, so ``cond`` can differ from a plain float64 evaluation in the last digits.
    """
    from smcheck.kernels import bounds as kb

    p, logp, eps_ref = _exact_pieces(ref)
    # how close to the underflow threshold an exact value must be to possibly land below it
    ln_tiny = math.log(fmt.tiny)
    under = ln_tiny + 4 * fmt.u * (1 + abs(ln_tiny))
    out, out_under = kb.row_features(
        *(np.ascontiguousarray(a, dtype=np.float64) for a in (x, p, logp)),
        np.ascontiguousarray(live),
        under,
    )
    n, top, low, pmax, rises, big_rises, k_sum, k_naive, cond = out.T
    lse = np.asarray(ref.lse, dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        return RowFeatures(
            n=n,
            top=top,
            span=top - low,
            lse=lse,
            b=np.maximum(lse - top, 0.0),
            pmax=pmax,
            rises=rises,
            big_rises=big_rises,
            k_sum=k_sum,
            k_naive=k_naive,
            out_under=out_under,
            cond=cond,
            ref_allow=(np.log(np.maximum(n, 1)) + 9) * eps_ref / fmt.u,
        )


def model_fn_error(model: str, fmt: FloatFormat) -> float:
    """c: the error of one exp/log under the arithmetic model, in units of u."""
    return fn_error(fmt) if model == "strict" else framework_fn_error(fmt)


def first_order(method: str, model: str, f: RowFeatures, fmt: FloatFormat) -> Array | None:
    """T per row (units of u), or None for a method without an analysed algorithm (``torch``)."""
    strict = model == "strict"
    c = model_fn_error(model, fmt)
    n, D, b, pmax = f.n, f.span, f.b, f.pmax
    # the log of a sum: log1p(sum_{i != k}) as lse_chopshift (strict), or log of the whole sum
    log_sum = (1 - pmax) * (D + c + n - 2) if strict else D + c + n - 1
    if method == "naive":
        return n + 1 + 2 * c  # Thm 3.3's (n+3)u at c = 1
    if method == "shifted":
        return n + 2 * c + 2 * D  # Thm 4.3
    if method == "logdomain":
        # d_i = fl(x_i - a): |x_i - a|u; z_i = fl(d_i - b): |z_i|u = (|x_i - a| + b)u; b's own
        # error from the sum and the log; exp(z_i): c
        return 2 * D + (1 + c) * b + log_sum + c
    if method == "lse-direct":
        # y = fl(a + log1p(s)) costs |y|u -- the rounding the paper's Thm 4.4 leaves out
        return log_sum + c * b + np.abs(f.lse) + (f.lse - (f.top - D)) + c
    if method == "online":
        rescales = f.rises if strict else f.rises + 1  # blocked: each block's sum is rescaled
        return n + 2 * c + 2 * D + rescales * (c + 1)
    return None


def underflow_terms(method: str, f: RowFeatures, fmt: FloatFormat, ftz: bool) -> Array:
    """U per row (units of u): absolute errors of intermediates that can fall below tiny."""
    zeta = fmt.tiny * (1 / fmt.u + 1) if ftz else fmt.tiny  # abs. error of such a result / u
    out = np.where(f.out_under, 1 / np.maximum(f.pmax, fmt.tiny), 0.0)
    subs = {"shifted": 2.0, "logdomain": 3.0, "lse-direct": 3.0}.get(method, 0.0)
    flushed = zeta * (2 + f.rises if method == "online" else subs) if ftz else 0.0
    with np.errstate(over="ignore"):
        if method == "naive":  # w = exp(x) at scale exp(x_max)
            return zeta * ((f.k_naive + 1) * np.exp(-f.top) + out)
    if method == "shifted":
        return zeta * (f.k_sum + (f.k_sum > 0) + out) + flushed
    if method == "online":
        return zeta * (f.k_sum + f.big_rises * (f.n + 1) + 1 + out) + flushed
    return zeta * (f.k_sum + 2 + out) + flushed


@dataclass(frozen=True)
class RowBounds:
    """One chunk's bounds for one method."""

    first: Array
    """T, the first-order bound (units of u)."""
    bound: Array
    """The full bound B (units of u); +inf where vacuous."""
    vacuous: npt.NDArray[np.bool_]


def row_bounds(
    method: str, model: str, f: RowFeatures, fmt: FloatFormat, ftz: bool
) -> RowBounds | None:
    """B = (T + U) / (1 - K·T·u) + reference allowance; vacuous where K·T·u >= 1 or B >= 1/u."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        first = first_order(method, model, f, fmt)  # NaN on fully masked rows (never tested)
        if first is None:
            return None
        denom = 1 - SECOND_ORDER[method] * first * fmt.u
        full = (first + underflow_terms(method, f, fmt, ftz)) / denom + f.ref_allow
    vacuous = (denom <= 0) | ~(full < 1 / fmt.u)  # NaN too
    return RowBounds(first, np.where(vacuous, np.inf, full), vacuous)
