"""Section 5 of Blanchard, Higham & Higham (2021) on its own data, in smcheck's strict model.

Run ``python -m smcheck.experiments.higham2021 [--data FILE] [--format text|json|markdown]``.

The paper evaluates log-sum-exp and softmax in fp16 and bfloat16 with Higham's ``chop`` on the
2500 pre-softmax vectors of an MNIST classifier (their MATLAB ``chop_test_softmax.m`` and
``bfloat_chop_test_softmax.m``, repository higham/logsumexp-softmax-tests). Here the same six
quantities are computed with :class:`~smcheck.methods.strictops.StrictArith` (the softmax ones
by smcheck's strict methods themselves), measured as the script measures them, and set beside
the figures the authors published.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import click
import numpy as np

# package data, so the reproduction runs from an installed wheel (same bytes as sample_inputs/)
DEFAULT_DATA = Path(__file__).resolve().parent / "data" / "mnist_cnn_presoftmax_2500x10.npy"
SOURCE = "higham/logsumexp-softmax-tests (commit ad464cc)"
PUBLISHED: dict[str, dict[str, int]] = {
    # chop_test_softmax.m: "numInfs ... overflows in half prec basic LSE: gives 475" and
    # "numInfs_shift ... overflows in half prec shifted LSE: gives 0"
    "float16": {"basic_lse_overflow_rows": 475, "shifted_lse_overflow_rows": 0},
    # bfloat_chop_test_softmax.m: "It turns out that there is no overflow in this case
    # (bfloat can cope with larger numbers than fp16)"
    "bfloat16": {"basic_lse_overflow_rows": 0, "shifted_lse_overflow_rows": 0},
}
FTZ = {"float16": False, "bfloat16": True}
"""chop's defaults: subnormals kept in fp16, flushed in bfloat16 (options.subnormal)."""


@dataclass(frozen=True)
class Quantity:
    """One of the paper's computed quantities over the rows where the basic LSE is finite."""

    name: str
    theorem: str
    smcheck_method: str | None
    """The smcheck strict method that computes it (None: computed here only)."""
    paper_bound: str
    """The script's leading-order bound, in units of u (relative error for the LSEs)."""
    max_error_u: float
    max_ratio: float
    """Largest error / paper bound."""
    rows_above: int
    """Rows whose error exceeds the paper's leading-order bound."""
    smcheck_violations: int | None
    """Rows violating smcheck's own (complete) bound for the method."""


@dataclass(frozen=True)
class FormatResult:
    dtype: str
    ftz: bool
    rows: int
    rows_compared: int
    """Rows where the basic LSE did not overflow: the set the paper plots."""
    basic_lse_overflow_rows: int
    shifted_lse_overflow_rows: int
    published: dict[str, int]
    quantities: list[Quantity]


def run(data: str | Path | None = None) -> list[FormatResult]:
    """The reproduction for float16 and bfloat16 (LoadError if the data cannot be read)."""
    from smcheck.sources.loaders import load_logits

    x = np.asarray(load_logits(str(data or DEFAULT_DATA)).array, dtype=np.float64)
    x = x.reshape(-1, x.shape[-1])
    return [_run_format(x, str(data or DEFAULT_DATA), dtype) for dtype in ("float16", "bfloat16")]


def _run_format(x: np.ndarray, path: str, dtype: str) -> FormatResult:
    import smcheck
    from smcheck.dtypes import get_format
    from smcheck.methods import get_method
    from smcheck.methods.strictops import StrictArith
    from smcheck.reference.exact import exact_softmax

    fmt, ftz = get_format(dtype), FTZ[dtype]
    a = StrictArith(fmt, ftz)
    xd = fmt.round(x, ftz=ftz)
    ref = exact_softmax(xd)
    n, y, u = xd.shape[1], ref.lse, fmt.u
    lo, hi = xd.min(-1), xd.max(-1)
    with np.errstate(all="ignore"):
        # lse_chop: f = log(sum exp(x)) (Thm 3.2), and the division-free h = exp(x - f) (Thm 3.4)
        basic = a.log(a.cumsum(a.exp(xd))[0])
        alt = a.exp(a.sub(xd, basic[:, None]))
        # lse_chopshift: f = max + log1p(sum_{i != k} exp(x_i - max)) (Thm 4.2)
        others = a.exp(a.sub(xd, hi[:, None]))
        others[np.arange(len(xd)), np.argmax(xd, -1)] = 0.0
        shifted = a.add(hi, a.log1p(a.cumsum(others)[0]))
    ok = np.isfinite(basic)  # the paper plots only the rows where the basic LSE is finite

    rep = smcheck.analyze(
        path, dtypes=[dtype], model="strict", methods=["naive", "shifted", "lse-direct"], ftz=ftz
    )
    cells = {c.method: c for c in rep.cells}

    def softmax_err(p: np.ndarray) -> np.ndarray:
        return np.abs(p - ref.p).max(-1) / (u * ref.p.max(-1))

    def quantity(name, theorem, method, text, err, bound) -> Quantity:  # type: ignore[no-untyped-def]
        e, b = err[ok], bound[ok]
        viol = None if method is None else cells[method].bounds.violations.rows  # type: ignore[union-attr]
        return Quantity(
            name, theorem, method, text, float(e.max()), float((e / b).max()),
            int((e > b).sum()), viol,
        )  # fmt: skip

    spread = np.abs(y[:, None] - xd).max(-1)
    p = {m: get_method(m).strict(xd, fmt, ftz).p for m in ("naive", "shifted", "lse-direct")}
    quantities = [
        quantity("basic log-sum-exp", "Thm 3.2", None, "1 + (n+1)/|y| (relative)",
                 np.abs(basic - y) / (u * np.abs(y)), 1 + (n + 1) / np.abs(y)),
        quantity("shifted log-sum-exp", "Thm 4.2", None, "|y + n - x_min|/|y| (relative)",
                 np.abs(shifted - y) / (u * np.abs(y)), np.abs(y + n - lo) / np.abs(y)),
        quantity("basic softmax g = e/s", "Thm 3.3", "naive", "n + 3",
                 softmax_err(p["naive"]), np.full(len(xd), n + 3.0)),
        quantity("basic division-free h = exp(x - f)", "Thm 3.4", None,
                 "|y| + max|x - y| + n + 2", softmax_err(alt), np.abs(y) + spread + n + 2),
        quantity("shifted softmax g = e/(1 + s)", "Thm 4.3", "shifted", "n + 2 + 2(x_max - x_min)",
                 softmax_err(p["shifted"]), n + 2 + 2 * (hi - lo)),
        quantity("shifted division-free h = exp(x - f)", "Thm 4.4", "lse-direct",
                 "1 + max|x - y| + |y + n - x_min|", softmax_err(p["lse-direct"]),
                 1 + spread + np.abs(y + n - lo)),
    ]  # fmt: skip
    return FormatResult(
        dtype=dtype,
        ftz=ftz,
        rows=len(xd),
        rows_compared=int(ok.sum()),
        basic_lse_overflow_rows=cells["naive"].metrics.overflow.rows,
        shifted_lse_overflow_rows=int((~np.isfinite(shifted)).sum()),
        published=PUBLISHED[dtype],
        quantities=quantities,
    )


def to_markdown(results: list[FormatResult]) -> str:
    """The tables of docs/higham2021.md (kept in sync by a test)."""
    lines: list[str] = []
    for r in results:
        sub = "flushed (chop's bfloat16 default)" if r.ftz else "kept"
        lines += [
            f"**{r.dtype}** ({r.rows} rows of 10, subnormals {sub})",
            "",
            f"| overflow count | published ({SOURCE}) | smcheck |",
            "|---|---:|---:|",
            f"| rows whose basic (unshifted) LSE overflows | "
            f"{r.published['basic_lse_overflow_rows']} | {r.basic_lse_overflow_rows} |",
            f"| rows whose shifted LSE overflows | "
            f"{r.published['shifted_lse_overflow_rows']} | {r.shifted_lse_overflow_rows} |",
            "",
            f"Errors over the {r.rows_compared} rows where the basic LSE is finite, in units of "
            f"u = 2^-{11 if r.dtype == 'float16' else 8} (smcheck only: the paper plots these):",
            "",
            "| quantity | paper | smcheck method | leading-order bound (paper) | max error "
            "| max error / bound | rows above it | smcheck bound violations |",
            "|---|---|---|---|---:|---:|---:|---:|",
        ]
        for q in r.quantities:
            viol = "-" if q.smcheck_violations is None else str(q.smcheck_violations)
            bound = q.paper_bound.replace("|", "\\|")  # a bar inside a table cell
            lines.append(
                f"| {q.name} | {q.theorem} | {q.smcheck_method or '-'} | {bound} | "
                f"{q.max_error_u:.3g} | {q.max_ratio:.3g} | {q.rows_above} | {viol} |"
            )
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--data",
    type=click.Path(dir_okay=False),
    default=None,
    help="The 2500x10 logits (default: the copy of sample_inputs/mnist_cnn_presoftmax_2500x10.npy "
    "shipped in the package).",
)
@click.option(
    "--format",
    "fmt",
    # the wings import no cli (tests/test_architecture.py): table is listed, as text's alias
    type=click.Choice(["text", "json", "markdown", "table"]),
    default="text",
    help="table: the same as text, as in analyze and check.",
    show_default=True,
)
def main(data: str | None, fmt: str) -> None:
    """Reproduce the fp16/bfloat16 experiment of Blanchard, Higham & Higham (2021), Section 5.

    \b
    Example:
      python -m smcheck.experiments.higham2021 --format markdown
    """
    import sys

    from smcheck.errors import SmcheckError

    try:
        results = run(data)
    except SmcheckError as e:
        exc = click.ClickException(str(e))
        exc.exit_code = int(e.exit_code)
        raise exc from None
    if fmt == "json":
        click.echo(json.dumps([asdict(r) for r in results], indent=2))
    elif fmt == "markdown":
        click.echo(to_markdown(results), nl=False)
    else:
        from rich.console import Console
        from rich.markdown import Markdown

        Console(width=None if sys.stdout.isatty() else 120).print(Markdown(to_markdown(results)))


if __name__ == "__main__":
    main()
