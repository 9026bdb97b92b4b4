"""Small phrases every report sentence is built from: counted nouns, row indices, lists, a
table cell's number; and how bad a message's figure reads (:func:`weight`), to pick the message
a group shows, tagged with its cell (:func:`figures_for`); and a line wrapped at its best
break points, never inside a word (:func:`wrap_line`)."""

from __future__ import annotations

import decimal
import math
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the model imports this module (plural): types only here
    from smcheck.report.model import Cell, SourceReport


def plural(n: int | float, word: str, many: str | None = None) -> str:
    """``n`` and the noun in the number it takes: ``1 row``, ``3 rows``, ``2 entries``.

    Args:
        n: The count; a float is written with ``:g`` (``1e+06 elements``), an int as is.
        word: The singular noun.
        many: The plural where it is not ``word + "s"`` (or ``-y`` to ``-ies``).

    Returns:
        ``"<n> <noun>"``.
    """
    count = format(n, "g") if isinstance(n, float) else str(n)
    if n == 1:
        return f"{count} {word}"
    if many is None:
        consonant_y = word.endswith("y") and word[-2:-1] not in "aeiou"
        many = word[:-1] + "ies" if consonant_y else word + "s"
    return f"{count} {many}"


def verb(n: int, one: str, many: str) -> str:
    """The verb form that agrees with ``n``: ``verb(2, "holds", "hold")`` is ``hold``."""
    return one if n == 1 else many


def rows_of(n: int, total: int) -> str:
    """``3/10 rows``, ``1/1 row``: ``n`` of the ``total`` rows checked."""
    return f"{n}/{plural(total, 'row')}"


def row_index(ix: Iterable[int] | None) -> str:
    """A row's index in the original shape, ``[0,3]``; ``-`` when there is none."""
    return "-" if ix is None else "[" + ",".join(str(i) for i in ix) + "]"


NBSP = "\u00a0"
"""A space a wrapped terminal line must not break at (a count and its noun); the terminal's
``Lines`` print it as a plain space."""


def unbroken(phrase: str) -> str:
    """``phrase`` with its spaces made :data:`NBSP`: wrapped, it stays on one line."""
    return phrase.replace(" ", NBSP)


def first_of(n: int, ix: Iterable[int] | None, several: str = "first") -> str:
    """Where ``n`` rows of a kind are: ``row [0,0]`` for one; of several, ``several`` says which
    one is given: the terminal's short ``first [0,3]``, a finding's ``first row [0,3]``, or
    ``worst row [0,3]`` for a count's row with the most (CountStat, lowest on ties)."""
    return f"{'row' if n == 1 else several} {row_index(ix)}"


def join_and(items: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def runs(items: Sequence[str], order: Sequence[str], shortest: int = 3) -> str:
    """``items`` (a subset of ``order``), consecutive runs of ``shortest`` or more as ``a..b``."""
    idx = sorted(order.index(i) for i in items)
    out: list[str] = []
    start = 0
    for k in range(1, len(idx) + 1):
        if k == len(idx) or idx[k] != idx[k - 1] + 1:
            run = [order[i] for i in idx[start:k]]
            out += [f"{run[0]}..{run[-1]}"] if len(run) >= shortest else run
            start = k
    return ", ".join(out)


def value_text(v: float) -> str:
    """-65504, -1e9, -3.40282e38: a mask value short and exact enough to recognise."""
    return format(v, ".6g").replace("e+0", "e").replace("e+", "e")


def softmax_input(*, divided: bool, softmin: bool) -> str:
    """What the softmax takes, as messages name it: ``logits``, ``x/T`` when divided by T;
    under softmin, softmax(-x), ``-x`` and ``-x/T``."""
    x = "x/T" if divided else "x"
    if softmin:
        return f"-{x}"
    return x if divided else "logits"


def of_input(softmin: bool) -> str:
    """`` of -x`` after a figure of the softmax's input under softmin (the report's values are
    -x's there); nothing otherwise, where the input is the logits themselves."""
    return f" of {softmax_input(divided=False, softmin=True)}" if softmin else ""


def operation(softmin: bool) -> str:
    """What the source is analysed for: ``softmin`` (softmax(-x)) or ``softmax``."""
    return "softmin" if softmin else "softmax"


def logit_inf(inf: str, softmin: bool) -> str:
    """The logits' infinity that the softmax's input holds as ``inf`` (``+inf`` or ``-inf``):
    ``inf`` itself; under softmin, whose input -x is exact, the other one."""
    return {"+inf": "-inf", "-inf": "+inf"}[inf] if softmin else inf


def logit_inf_of_input(inf: str, softmin: bool) -> str:
    """:func:`logit_inf`, followed under softmin by the input's own, which the report counts:
    ``+inf``, or under softmin ``-inf, +inf in -x``."""
    x = softmax_input(divided=False, softmin=True)
    return logit_inf(inf, softmin) + (f", {inf} in {x}" if softmin else "")


JUDGES = {
    "probs": "probabilities",
    "logprobs": "probabilities, log-probabilities",
    "loss": "probabilities, log-probabilities, loss, gradients",
}
"""What a verdict judges under each ``use``."""


def use_phrase(s: SourceReport) -> str:
    """The source's use, why, and what its verdicts judge, as every report's header states it:
    ``loss (auto: no masks in the input): judges probabilities, log-probabilities, loss,
    gradients``; under use loss without a loss or gradients in any cell (the strict model,
    which has no autograd, or gradients turned off: --no-gradients, ``gradients = false`` in a
    config, the API's ``gradients=False``) it says so rather than claim them."""
    why = f" ({s.use_reason})" if s.use_reason else ""
    judged = JUDGES.get(s.use, s.use)
    if s.use == "loss" and s.cells and all(c.gradient is None for c in s.cells):
        cause = " under the strict model" if s.cells[0].model == "strict" else ": turned off"
        judged = f"{JUDGES['logprobs']} (no loss or gradients{cause})"
    return f"{s.use}{why}: judges {judged}"


def at_temperature(t: float) -> str:
    """`` at T=0.5``; nothing at T = 1."""
    return "" if t == 1 else f" at T={t:g}"


def never_down_to(lo: float) -> str:
    """``never (>= 1e-06)``: not found at any T a scan looked at, down to its bottom ``lo``."""
    return f"never (>= {lo:g})"


def bisected_digits(rel_tol: float) -> int:
    """The significant digits that keep a figure within ``rel_tol`` of the bisection's end: 4
    for 0.1 %. Rounding to d digits moves a value by up to 10^(1-d) of it (leading digit 1), so
    3 digits would step 1 % (1.00112 shown as 1.01, past safe Ts 1.005 and 1.009)."""
    return max(1, math.ceil(1 - math.log10(rel_tol) - 1e-9))


def bisected_t(t: float, rel_tol: float, *, up: bool) -> str:
    """A temperature found by bisection to ``rel_tol``, to :func:`bisected_digits`, rounded
    towards the side the search checked: ``up`` for a lowest safe T (``0.00030491`` ->
    ``0.000305``; rounded down it could name an unsafe T), down for a highest safe T or a
    one-hot bound.
    """
    return directed(t, bisected_digits(rel_tol), up=up)


def directed(v: float, digits: int, *, up: bool) -> str:
    """``v`` to ``digits`` significant digits, rounded up (``up``) or down: a bound shown on the
    side of ``v`` its sentence needs."""
    # decimal rounding of the shortest repr: t / 10**k in floats could push 1.8 up to 1.81, and
    # so could the binary value itself (1.8000000000000000444)
    rounding = decimal.ROUND_CEILING if up else decimal.ROUND_FLOOR
    shown = decimal.Context(prec=digits, rounding=rounding).plus(decimal.Decimal(repr(v)))
    return format(float(shown), f".{digits}g")


def overflow_limit(x: float) -> str:
    """exp's overflow limit ``x`` (FloatFormat.exp_overflow_x) as every report prints it: 6
    significant digits, rounded up, so every value above the one shown overflows (float16:
    ln 65520 = 11.090111 reads 11.0902; at 2 decimals 11.09, below it, which float16 rounds to
    11.09375, past it)."""
    return directed(x, 6, up=True)


NOT_JUDGED = "-"
"""How every grid writes a cell that judged no row (``Cell.judged``), in place of its OK."""
NO_ROW_JUDGED = "no row judged"
"""What a cell or a critical temperature that judged no row says in words."""
NOT_JUDGED_WHY = f"{NO_ROW_JUDGED} (every row kept out of the metrics: see the input findings)"
"""Why a cell judged no row, where a report says it of one (JUnit's skipped test case)."""
NOT_JUDGED_LEGEND = f"{NOT_JUDGED}: {NOT_JUDGED_WHY}"
"""The line under a grid that shows :data:`NOT_JUDGED`."""


def verdict_word(c: Cell) -> str:
    """The cell's verdict as a grid shows it: ``OK``, ``WARN``, ``FAIL``, or :data:`NOT_JUDGED`
    where it judged no row and found nothing (its OK would claim the method is fine)."""
    return c.verdict.value if c.judged else NOT_JUDGED


def no_findings(cells: Sequence[Cell]) -> str:
    """What a report says when no cell has a WARN/FAIL finding: ``every cell is OK`` only where
    every cell judged a row, else how many did not (``2 cells OK, 2 not judged``), of the
    selected cells, as the summary line counts them (comparisons apart)."""
    cells = [c for c in cells if not c.hypothetical]
    idle = sum(not c.judged for c in cells)
    if not idle:
        return "every cell is OK"
    return f"{plural(len(cells) - idle, 'cell')} OK, {idle} not judged"


def swept_digits(temps: Iterable[float], least: int = 3) -> int:
    """The fewest significant digits, at least ``least``, that write the temperatures of a
    sweep apart: 5 for 1.0818 and 1.0822 (1.08 and 1.08 at 3 digits, 1.082 at 4); 17 tell any
    two floats apart."""
    ts = set(temps)
    apart = (d for d in range(least, 17) if len({format(t, f".{d}g") for t in ts}) == len(ts))
    return next(apart, 17)


def swept_t(t: float, temps: Iterable[float], least: int = 3) -> str:
    """``t``, one temperature of the sweep ``temps``, to :func:`swept_digits`: every table,
    span and tag that names a swept T writes it so, and no two of the sweep read alike."""
    return format(t, f".{swept_digits(temps, least)}g")


def cell_name(method: str, dtype: str, t: float) -> str:
    """``naive float16 at T=0.5``: how a finding's sentence names its cell."""
    return f"{method} {dtype}" + at_temperature(t)


def figures_for(
    method: str,
    dtype: str,
    t: float,
    sweep: Sequence[float],
    what: str = "figures",
    note: str = "",
) -> str:
    """The tag naming the cell a grouped line's figures are for, where its cells' messages
    differ: ``(figures for naive float16 T=0.05)``, T as :func:`swept_t` writes it in the
    source's ``sweep`` (its temperatures); no T at T = 1 unless the source was analysed at
    several temperatures (there T = 1 is one cell of several). It claims
    no maximum: the cell is the one :func:`weight` ranks first, and another cell may exceed a
    figure the ranking does not read (a second ``up to`` on the line). ``what``: what the tag
    claims is the cell's (``figures and fixes`` where the message states fixes other cells do
    not take); ``note`` ends it."""
    at = "" if t == 1 and len(set(sweep)) < 2 else f" T={swept_t(t, sweep or [t])}"
    return f"({what} for {method} {dtype}{at}{note})"


def figures_tag(
    messages: Iterable[str], method: str, dtype: str, t: float, sweep: Sequence[float]
) -> str:
    """:func:`figures_for` where the group's ``messages`` differ, else ``""`` (the one message
    is true of every cell as it is)."""
    return figures_for(method, dtype, t, sweep) if len(set(messages)) > 1 else ""


def more_fixes(n: int, shown_by: str) -> str:
    """``(-v: 1 more fix)``: the ``n`` other remedies a grouped line's other cells take, and
    what shows them (``shown_by``)."""
    return f"({shown_by}: {plural(n, 'more fix', 'more fixes')})"


def remedy_for(remedy: str, cells: str) -> str:
    """A grouped line's remedy where its cells' remedies differ, naming the cells it is for:
    ``for naive × float16: compute the softmax in float32`` (:func:`more_fixes` counts the
    others)."""
    return f"for {cells}: {remedy}"


def tagged(parts: Sequence[tuple[str, str]]) -> str:
    """Messages of causes hitting the same cells, joined by ``; ``, each with its tag (``""``
    for none); where every tag given is the same, it stands once, at the end (an untagged
    message is true of every cell, the tagged one too).

    Args:
        parts: (message, tag) pairs, in the line's order.

    Returns:
        ``a; b (figures for naive float16)`` or ``a (figures for x); b (figures for y)``.
    """
    tags = {tag for _, tag in parts if tag}
    if len(tags) == 1:
        return "; ".join(m for m, _ in parts) + " " + tags.pop()
    return "; ".join(f"{m} {tag}" if tag else m for m, tag in parts)


WORDS = r"(?<= )"
"""A break between words (after each space)."""
PATH_BREAKS = (WORDS, r"(?<=[/:])", r"(?=\.)")
"""Where a source name breaks: between words; a word wider than a line after a "/" of its path
or the ":" before a key or op, then before a "." of a module path or a suffix (".npy" stays
whole)."""
SUMMARY_BREAKS = (r"(?<=; )|(?= \()", r"(?<=[,:] )", WORDS)
"""Where a summary line breaks, best first: between its parts, after a comma or colon, between
words."""
BARE_NUMBER = re.compile(r"(?<![^\s(\[])[-+]?\d(?:[\d./]*\d)?(?:e[-+]?\d+)? ?$")
"""A piece ending in a number and at most a space (``in 1/2 ``, ``; 1``, ``(40 ``): no break
follows it, in any of the breaks, so the number stays with the word it counts (``1/2 rows``,
``40 bytes``). A path's folder (``2024/``) ends in no digit: it breaks as a path."""


def wrap_line(line: str, width: int, breaks: tuple[str, ...] = (WORDS,), indent: str = "  ") -> str:
    """``line`` in lines of at most ``width`` columns, continued after ``indent``, broken at the
    first of ``breaks`` (patterns, best first) and a piece too wide for a line at the next: a
    summary moves whole parts (after "; ", before " ("), then breaks after commas and colons,
    so that "2" stays with "FAIL"; never inside a word (one wider than a line keeps its line)
    nor after a number (:data:`BARE_NUMBER`)."""
    lines = [""]
    for piece in _pieces(line, width - len(indent), breaks, 0, first=width):
        if lines[-1].strip() and len(lines[-1]) + len(piece.rstrip()) > width:
            lines[-1] = lines[-1].rstrip()
            lines.append(indent + piece.lstrip())
        else:
            lines[-1] += piece
    return "\n".join(ln.rstrip() for ln in lines)


def _pieces(text: str, room: int, breaks: tuple[str, ...], level: int, first: int) -> list[str]:
    """``text`` cut at ``breaks[0]``, and a piece wider than ``room`` (a continued line's) at
    the next; ``first``: the room of the piece that starts ``text`` (the first line has no
    indent, so the whole width)."""
    if level == len(breaks) or (level and len(text.strip()) <= first):
        return [text]
    parts: list[str] = []
    for part in re.split(breaks[level], text):
        if parts and BARE_NUMBER.search(parts[-1]):
            parts[-1] += part
        else:
            parts.append(part)
    return [
        p
        for k, part in enumerate(parts)
        for p in _pieces(part, room, breaks, level + 1, first if k == 0 else room)
    ]


def num(v: float | int | None, spec: str = ".3g") -> str:
    """A number for a table cell: '-' for missing, nan/inf spelled out, fixed format spec."""
    if v is None:
        return "-"
    if isinstance(v, int):
        return str(v)
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return format(v + 0.0, spec)  # + 0.0: a loss -log(1) is -0.0, printed "0", not "-0"


ROWS = re.compile(r"(\d+)/\d+ rows?\b")
INDEX = re.compile(r"\[[\d, ]*\]")
COUNT = re.compile(r"(?<![\w.])\d+(?![\w.])")
NUMBER = re.compile(r"\d+(?:\.\d*)?(?:e[+-]?\d+)?")
UP_TO = re.compile(r"\bup to (\d+(?:\.\d*)?(?:e[+-]?\d+)?)")


def weight(message: str) -> tuple[float, float, float]:
    """How bad a message's figure is: the rows it hits, then its worst figure where it gives one
    (``up to 94.9%``), then its largest count (``716 gradient elements``); without rows, its first
    number (``normwise error 32.6u``; row indices aside). Ties go to the first cell in report
    order. The worst figure comes before the counts: a message's constants are counts too (the
    float16 stall's "stops at 2048" outweighed bfloat16's 94.9% of its mass absorbed)."""
    rows = ROWS.search(message)
    if rows:
        worst = UP_TO.search(message)
        count = max((float(n) for n in COUNT.findall(message)), default=0)
        return float(rows.group(1)), float(worst.group(1)) if worst else 0.0, count
    first = NUMBER.search(INDEX.sub("", message))
    return -1.0, float(first.group()) if first else 0.0, 0.0
