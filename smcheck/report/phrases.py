"""Small phrases every report sentence is built from: counted nouns, row indices, lists."""

from __future__ import annotations

from collections.abc import Iterable, Sequence


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


def join_and(items: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def value_text(v: float) -> str:
    """-65504, -1e9, -3.40282e38: a mask value short and exact enough to recognise."""
    return format(v, ".6g").replace("e+0", "e").replace("e+", "e")


def at_temperature(t: float) -> str:
    """`` at T=0.5``; nothing at T = 1."""
    return "" if t == 1 else f" at T={t:g}"


def cell_name(method: str, dtype: str, t: float) -> str:
    """``naive float16 at T=0.5``: how a finding's sentence names its cell."""
    return f"{method} {dtype}" + at_temperature(t)
