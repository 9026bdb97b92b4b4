"""Critical temperatures: a top-down log grid, then bisection on log T, over every valid row.

Two searches per method × format, both for "the largest T at which a row property holds":

* ``unsafe`` -- some row overflows or gives NaN (the cell metrics' definitions: a logit that
  becomes +inf when divided by T, an ``exp`` or sum that becomes +inf, a NaN probability). The
  search finds the largest grid T with an unsafe row below the highest safe one, then bisects
  between it and the grid point above (safe) until the ends differ by REL_TOL; ``min_safe`` is the
  safe end, within REL_TOL above the exact edge. So every grid point from ``min_safe`` up to the
  highest safe one is safe (a safe window narrower than a grid gap below an unsafe grid point is
  not looked for). The grid is the decades down to T_MIN, then each swept T below it
  (:func:`scan_grid`), so the scan covers every T the report shows.
* ``unsafe above`` -- the same property, where the top of the grid fails: failure is not
  monotone in T (70000 float16 terms near 1 overflow their sum at T = 1e3, not at T = 50, and
  x/T overflows again at T = 1e-6). The search finds the highest safe grid T and bisects towards
  the unsafe grid point above it; ``max_safe`` is the safe end. A row's unsafe set is a low and
  a high range of T (its sum of exp(x/T) is convex in 1/T), so the safe set of all rows is one
  range, ``min_safe`` to ``max_safe``.
* ``not one-hot`` -- some row's output is not exactly one-hot (one entry 1, the others 0). The
  search finds the largest grid T where *no* such row exists; ``one_hot_below`` is the bisection's
  one-hot end, so at ``one_hot_below`` every row is one-hot.

A grid point is checked on every valid row (streaming the chunks, stopping once a row with the
property turns up; the row that had it at the previous step is tried first). Bisection steps run
on that witness row alone and only the final bracket end is checked on every row (see
:class:`Search`), so the reported ends carry the guarantee of a bisection over all rows. Witnesses
are the lowest-index rows with the property, so results do not depend on the chunk size.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import numpy.typing as npt

from smcheck.analysis.inputstats import analysable_rows
from smcheck.analysis.methodinput import divide, divisor, prepare_chunk, round_chunk, run_method
from smcheck.config import AnalysisConfig
from smcheck.dtypes import FloatFormat
from smcheck.methods.base import SoftmaxMethod
from smcheck.progress import ProgressFn
from smcheck.sources.rows import RowView

if TYPE_CHECKING:
    import torch

T_MIN = 1e-6
"""Bottom of the decade grid; a swept T below it takes the scan down to that T, where the report's
cells show overflow too (min_safe is None when a method is safe down to the scan's bottom)."""
T_TOP = 1e3  # the top of the scan unless a configured temperature is higher
REL_TOL = 1e-3
UNSAFE, NOT_ONE_HOT, UNSAFE_ABOVE = "unsafe", "not_one_hot", "unsafe_above"  # max_safe's search
CAUSES = ("temperature_overflow", "exp_overflow", "sum_overflow", "nan", "temperature_zero")
"""Cause bits, in this order (bit 0 = temperature_overflow). temperature_zero: T is 0 where torch
divides (float32 up to float32: T <= 2^-150), so x/T is inf or NaN; it stands alone."""
_ZERO = 1 << CAUSES.index("temperature_zero")


def scan_grid(temperatures: tuple[float, ...]) -> list[float]:
    """Decades from the top of the scan down to T_MIN, then each swept T below it, highest first.

    Below T_MIN only the swept temperatures are grid points (1e-306 is 300 decades down: a full
    pass at each would cost more than the cells), so bisection brackets there are wider.
    """
    k_top = math.ceil(math.log10(max(T_TOP, *temperatures)) - 1e-12)
    k_min = round(math.log10(T_MIN))
    below = sorted({t for t in temperatures if t < T_MIN}, reverse=True)
    return [float(f"1e{k}") for k in range(k_top, k_min - 1, -1)] + below


def bisection_steps(grid: list[float]) -> int:
    """Upper bound on the bisection steps after the grid (the widest bracket is one grid gap;
    in logs: 1e-6 / 5e-324 overflows a float)."""
    widest = max(math.log(a) - math.log(b) for a, b in zip(grid, grid[1:], strict=False))
    return math.ceil(math.log2(widest / math.log1p(REL_TOL))) + 1


@dataclass(frozen=True)
class Witness:
    """A row found with the searched property: where, its values, and (for unsafe) why."""

    row: int
    values: npt.NDArray[np.float64]
    causes: int


def _log_midpoint(a: float, b: float) -> float:
    """sqrt(a b), the midpoint in log T; in two roots where a b is subnormal, 0 or inf."""
    ab = a * b
    return math.sqrt(ab) if sys.float_info.min <= ab < math.inf else math.sqrt(a) * math.sqrt(b)


def _close(a: float, b: float) -> bool:
    """The bracket a < b is done: REL_TOL wide, or no float between (subnormal T: 1.1e-321)."""
    return b <= a * (1 + REL_TOL) or not a < _log_midpoint(a, b) < b


@dataclass
class Search:
    """The largest T at which ``exists(property) == want``: grid from the top, then bisection.

    The bracket's ends are ``t_true`` (a row has the property there: ``witness``) and ``t_false``
    (checked on every row: none has it). Bisection steps run on the witness row alone, moving
    ``t_guess`` towards ``t_true``; once they are REL_TOL apart, ``t_guess`` is checked on every
    row. Either it holds (it becomes ``t_false``: done) or a new witness is found there and the
    bisection goes on between it and ``t_false``. So the result keeps the guarantee of a plain
    bisection over all rows, at about one pass over the data per binding row instead of one per
    step.
    """

    kind: str
    grid: list[float]
    want: bool
    """For unsafe: True (the largest T with an unsafe row); for not-one-hot, and for unsafe
    above (the largest safe T): False."""
    below_top: bool = False
    """A run of grid points from the top where the property is as wanted is passed over: the
    search is for the largest T below the highest grid point where it is not (``min_safe`` where
    the top of the grid fails too); ``at_top`` where the run spans the grid."""
    i: int = 0
    clear: bool = False
    """A grid point where the property is not as wanted was seen."""
    t_true: float | None = None
    t_false: float | None = None
    t_guess: float | None = None
    done: bool = False
    at_top: bool = False
    """The target state already holds at the top of the grid (``below_top``: all the way down)."""
    witness: Witness | None = None
    """The row that had the property at ``t_true`` (the latest T where one did)."""

    def next_t(self) -> tuple[float, bool] | None:
        """The next temperature to evaluate, and whether every row must be checked there."""
        if self.done:
            return None
        if self.t_guess is None:
            return self.grid[self.i], True
        assert self.t_true is not None
        a, b = sorted((self.t_true, self.t_guess))
        if _close(a, b):
            return self.t_guess, True
        return _log_midpoint(a, b), False  # on the witness row alone

    def tell(self, t: float, found: Witness | None, full: bool) -> None:
        """Record the answer at ``t``: ``found`` is a row with the property, or None."""
        if found is not None and (self.clear or self.witness is None):
            self.witness = found  # past a run from the top, the top's row (``at_top``'s witness)
        if self.t_guess is None:  # on the grid: every row was checked
            if (found is not None) != self.want:
                self.clear = True
                self.i += 1
                self.done = self.i == len(self.grid)
            elif not self.clear:  # as wanted from the top down to here
                self.i += 1
                if not self.below_top or self.i == len(self.grid):
                    self.done = self.at_top = True
            else:
                above = self.grid[self.i - 1]
                self.t_true, self.t_false = (t, above) if found is not None else (above, t)
                self.t_guess = self.t_false
            return
        if found is not None:
            self.t_true = t
            if t == self.t_guess:  # the guess failed on another row: back to the checked end
                self.t_guess = self.t_false
                assert self.t_false is not None
                self.done = _close(*sorted((t, self.t_false)))
        else:
            self.t_guess = t
            if full:
                self.t_false = t
                self.done = True  # checked on every row, REL_TOL from t_true

    @property
    def result(self) -> float | None:
        """The checked end (None: the target state never held; inf: it held at the top)."""
        return math.inf if self.at_top else self.t_false


@dataclass(frozen=True)
class Flags:
    """Per-row results of one method at one temperature on a block of rows."""

    causes: npt.NDArray[np.int64]
    """Bit set of CAUSES per row (0: safe)."""
    one_hot: npt.NDArray[np.bool_]


def row_flags(
    m: SoftmaxMethod,
    xs: torch.Tensor,
    scale_over: np.ndarray,
    f: FloatFormat,
    cfg: AnalysisConfig,
    t: float = 1.0,
) -> Flags:
    """Run ``m`` on the block scaled by ``t`` and classify each row as CellAccumulator counts
    it; where ``t`` rounds to 0 in the type torch divides ``f`` in, an unsafe row's cause is
    that alone."""
    import torch

    with torch.no_grad():
        out = run_method(m, cfg.model, xs, f, cfg.ftz)
        tens = getattr(out, "tensors", None)  # framework outputs: read the tensors, no copy
        p = tens.p if tens is not None else torch.from_numpy(out.p)
        # the row maximum (NaN if any element is), and where some row's is 1 the nonzero
        # count: exactly one nonzero element and a maximum of 1 is exactly a one-hot row
        top = p.amax(-1)
        nan = torch.isnan(top).numpy()
        one_hot = top == 1
        if bool(one_hot.any()):  # else no row is one-hot: the count's pass is not needed
            one_hot &= torch.count_nonzero(p, dim=-1) == 1
        one_hot = one_hot.numpy()
    exp_over = None if out.overflow is None else out.overflow.any(-1)
    causes = np.zeros(len(one_hot), dtype=np.int64)
    for k, b in enumerate((scale_over.any(-1), exp_over, out.sum_overflow, nan)):  # CAUSES order
        if b is not None:
            causes |= np.asarray(b, dtype=np.int64) << k
    if divisor(f, t) == 0:  # x/0: the overflow or NaN that follows is not the cause
        causes = np.where(causes != 0, _ZERO, 0)
    return Flags(causes, np.asarray(one_hot, dtype=bool))


class FormatChunk(NamedTuple):
    """A chunk of rows as the search probes it in one format."""

    start: int
    """Flat index of the first row."""
    x: np.ndarray
    """The analysed values (float64, after --softmin)."""
    xt: torch.Tensor
    """``x`` rounded to the format, as a tensor of the format."""
    valid: np.ndarray
    """Rows judged in the format."""

    def scaled(self, f: FloatFormat, t: float) -> tuple[torch.Tensor, np.ndarray]:
        """The methods' input at ``t`` and the elements the division overflowed."""
        return divide(self.xt, f, t)


class Prober:
    """Answers "is there a row with property P for method M at T in format F" over all rows.

    Every full check reads the chunks from the first again, so each format's leading chunks
    are kept once prepared and rounded, while they fit in half the memory budget (the analysis
    has freed its chunks but for the last; docs/design.md §6): reading, preparing and rounding
    them again was a quarter of the search.
    """

    def __init__(self, view: RowView, cfg: AnalysisConfig, chunk_rows: int) -> None:
        self.view, self.cfg, self.chunk_rows = view, cfg, chunk_rows
        self.src = np.dtype(view.dtype)
        self._room = cfg.memory_budget // 2
        self._rows: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # start: (x, base_valid)
        self._kept: dict[str, list[FormatChunk]] = {}  # per format, the first chunks in order
        self.judged: set[str] = set()  # formats with a row to judge: a full check reads them

    def _block(
        self, f: FloatFormat, start: int, x: np.ndarray, base_valid: np.ndarray
    ) -> FormatChunk:
        import torch

        xd = round_chunk(x, f, self.cfg.ftz, self.src)  # as the analysis: x itself where exact
        valid = analysable_rows(xd, base_valid)
        return FormatChunk(start, x, torch.from_numpy(xd).to(f.torch_dtype()), valid)

    def _blocks(self, f: FloatFormat) -> Iterator[FormatChunk]:
        """The chunks with a valid row, in order: those kept, then the others read again."""
        kept = self._kept.setdefault(f.name, [])
        yield from (b for b in kept if b.valid.any())
        for start, raw in self.view.chunks(self.chunk_rows, first=len(kept) * self.chunk_rows):
            rows = self._rows.get(start)
            if rows is None:
                x, upstream, masked = prepare_chunk(raw.astype(np.float64), self.cfg.softmin)
                rows = x, ~upstream & ~masked
            b = self._block(f, start, *rows)
            self._keep(kept, b, rows)
            if b.valid.any():
                yield b

    def _keep(
        self, kept: list[FormatChunk], b: FormatChunk, rows: tuple[np.ndarray, np.ndarray]
    ) -> None:
        """Keep ``b`` (the next of ``kept``) if it fits, with its rows where not yet kept."""
        shared = b.xt.data_ptr() == b.x.ctypes.data  # x itself, where the cast is exact
        cost = b.valid.nbytes + (0 if shared else b.xt.element_size() * b.xt.numel())
        if b.start not in self._rows:
            cost += sum(a.nbytes for a in rows)
        if len(kept) * self.chunk_rows == b.start and cost <= self._room:
            self._room -= cost
            self._rows[b.start] = rows
            kept.append(b)

    def _find(
        self, m: SoftmaxMethod, t: float, kind: str, f: FloatFormat, b: FormatChunk
    ) -> Witness | None:
        xs, scale_over = b.scaled(f, t)
        return _witness(row_flags(m, xs, scale_over, f, self.cfg, t), kind, b.start, b.x, b.valid)

    def evaluate(
        self, f: FloatFormat, requests: dict[tuple[SoftmaxMethod, float], list[Search]]
    ) -> None:
        """Answer every search's pending question for format ``f`` (each gets one ``tell``)."""
        open_: dict[tuple[SoftmaxMethod, float], list[Search]] = {}
        for (m, t), searches in requests.items():
            for s in searches:
                full = s.next_t() == (t, True)
                w = s.witness  # the row that decided the last step usually decides this one
                hit = None
                if w is not None:
                    b = self._block(f, w.row, w.values[None, :], np.ones(1, dtype=bool))
                    hit = self._find(m, t, s.kind, f, b)
                if hit is not None or not full:
                    s.tell(t, hit, full)
                else:
                    open_.setdefault((m, t), []).append(s)
        if not open_:
            return
        for b in self._blocks(f):
            self.judged.add(f.name)
            by_t: dict[float, list[SoftmaxMethod]] = {}
            for m, t in open_:
                by_t.setdefault(t, []).append(m)
            for t, ms in by_t.items():
                xs, scale_over = b.scaled(f, t)  # shared by every method at this T
                for m in ms:
                    flags = row_flags(m, xs, scale_over, f, self.cfg, t)
                    for s in list(open_[(m, t)]):
                        w = _witness(flags, s.kind, b.start, b.x, b.valid)
                        if w is not None:
                            s.tell(t, w, True)
                            open_[(m, t)].remove(s)
                    if not open_[(m, t)]:
                        del open_[(m, t)]
            if not open_:
                return
        for (_, t), searches in open_.items():
            for s in searches:
                s.tell(t, None, True)


def _witness(
    flags: Flags, kind: str, start: int, x: np.ndarray, valid: np.ndarray
) -> Witness | None:
    """The lowest-index valid row with the property, or None."""
    has = ((flags.causes != 0) if kind == UNSAFE else ~flags.one_hot) & valid
    if not has.any():
        return None
    i = int(np.argmax(has))
    return Witness(start + i, x[i].copy(), int(flags.causes[i]))


def find_critical(
    view: RowView,
    cfg: AnalysisConfig,
    fmts: list[FloatFormat],
    methods: list[SoftmaxMethod],
    chunk_rows: int,
    progress: ProgressFn | None = None,
) -> tuple[list[float], dict[tuple[str, str, str], Search], set[str]]:
    """Both searches for every method × format: the grid, the searches, the judged formats."""
    grid = scan_grid(cfg.temperatures)
    kinds = {  # key: the searched property, the state wanted, past a run from the top
        UNSAFE: (UNSAFE, True, True),
        UNSAFE_ABOVE: (UNSAFE, False, False),
        NOT_ONE_HOT: (NOT_ONE_HOT, False, False),
    }
    searches = {
        (m.name, f.name, key): Search(kind, grid, want, below_top)
        for f in fmts
        for m in methods
        for key, (kind, want, below_top) in kinds.items()
    }
    prober = Prober(view, cfg, chunk_rows)
    total = (len(grid) + bisection_steps(grid)) * len(fmts)
    step = 0
    while not all(s.done for s in searches.values()):
        for f in fmts:
            requests: dict[tuple[SoftmaxMethod, float], list[Search]] = {}
            for m in methods:
                for key in kinds:
                    s = searches[(m.name, f.name, key)]
                    nxt = s.next_t()
                    if nxt is not None:
                        requests.setdefault((m, nxt[0]), []).append(s)
            if requests:
                prober.evaluate(f, requests)
                step += 1
                if progress is not None:
                    progress("critical temperatures", min(step, total), total)
    return grid, searches, prober.judged


def cause_names(bits: int) -> list[str]:
    return [name for k, name in enumerate(CAUSES) if bits >> k & 1]
