"""Parse logits written as text: CSV/whitespace tables, JSON nested lists and --values literals."""

from __future__ import annotations

import array
import json
import math
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

import numpy as np

from smcheck.errors import LoadError
from smcheck.report.phrases import plural
from smcheck.sources.decoders import rounded_note
from smcheck.sources.validation import load_error, reading, select_key, unique_keys

MAX_NDIM = 32
"""Deepest JSON list nesting accepted (numpy itself stops at 64 dimensions)."""

_SPECIAL_FLOATS = frozenset({"inf", "+inf", "-inf", "infinity", "+infinity", "-infinity", "nan"})
_JSON_FIX = "write regular nested lists of numbers, e.g. [[1, 2], [3, 4]]"


def decode(data: bytes | bytearray, name: str, offset: int = 0, *, bom: bool = True) -> str:
    """UTF-8 text (a leading BOM, as some editors write, is dropped unless ``bom`` is False).

    ``offset``: where ``data`` starts in the file, for the error's byte offset.
    """
    try:
        return data.decode("utf-8-sig" if bom else "utf-8")
    except UnicodeDecodeError as exc:
        raise load_error(
            name,
            f"it is not UTF-8 text (bad byte at offset {offset + exc.start})",
            "save numbers as plain text, one row per line",
        ) from exc


def parse_table(lines: Iterable[bytes], name: str) -> tuple[np.ndarray, tuple[str, ...]]:
    """CSV or whitespace-separated rows, one per line, as a 2-d float64 array, plus notes (a
    skipped header, integers float64 rounds: :func:`rounded_integers`).

    ``#`` starts a comment; blank lines are skipped; a first line without any number is a header
    and skipped with a note; every row must have the same number of values. ``lines`` (a binary
    file, say) is read a line at a time and the values go straight into one float64 buffer, so
    memory is about 8 bytes per value rather than a Python float and list slot each.
    """
    values = array.array("d")
    width, n_rows, first, offset = 0, 0, 0, 0
    notes: tuple[str, ...] = ()
    quoted: tuple[str, int] | None = None  # a quoted number on the header line, and its line
    lineno = rounded = 0
    for chunk in lines:
        text = decode(chunk, name, offset, bom=offset == 0)
        offset += len(chunk)
        for raw in text.splitlines():  # also splits at a lone \r, as text files may
            lineno += 1
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            tokens = split_tokens(line, name, f"line {lineno}")
            if any(";" in tok and all(map(_is_number, tok.split(";"))) for tok in tokens):
                raise load_error(  # a spreadsheet's export in some locales: read as a header
                    name,
                    f"line {lineno} separates its numbers with ';'",
                    "separate them with commas or whitespace, one row per line",
                )
            if not n_rows and not notes and not any(_is_number(tok) for tok in tokens):
                notes = (f"skipped the header line {lineno}",)
                quoted = next(((tok, lineno) for tok in tokens if _is_quoted_number(tok)), None)
                continue
            if n_rows and len(tokens) != width:
                raise load_error(
                    name,
                    f"line {lineno} has {plural(len(tokens), 'value')} but line {first} has "
                    f"{width}",
                    "give every line the same number of values",
                )
            values.extend(to_number(tok, name, f"line {lineno}") for tok in tokens)
            rounded += rounded_integers(line, tokens, values)
            width, first, n_rows = len(tokens), first or lineno, n_rows + 1
    if not n_rows and quoted is not None:  # "1.5","2": all quoted, so it read as a header
        raise not_a_number(name, quoted[0], f"line {quoted[1]}")
    if not n_rows:
        raise load_error(name, "it contains no numbers", "write one row of logits per line")
    table = np.frombuffer(values, dtype=np.float64).reshape(n_rows, width)
    return table, notes + rounded_notes(rounded)


def parse_values_text(text: str, name: str) -> tuple[np.ndarray, tuple[str, ...]]:
    """``-999,1,2,5,6`` (commas or spaces; ``;`` between rows) as a 2-d (rows, n) array, plus
    the note of integers float64 rounds (:func:`rounded_integers`)."""
    rows: list[list[float]] = []
    rounded = 0
    for i, row in enumerate(text.split(";"), start=1):
        if not row.strip():
            continue
        tokens = split_tokens(row, name, f"row {i}")
        values = [to_number(tok, name, f"row {i}, item {j}") for j, tok in enumerate(tokens, 1)]
        rounded += rounded_integers(row, tokens, values)
        if rows and len(values) != len(rows[0]):
            raise load_error(
                name,
                f"row {i} has {plural(len(values), 'value')} but the first row has {len(rows[0])}",
                "give every row the same number of values",
            )
        rows.append(values)
    if not rows:
        raise load_error(name, "no values were given", "write numbers such as -999,1,2,5,6")
    return np.array(rows, dtype=np.float64), rounded_notes(rounded)


def split_tokens(line: str, name: str, where: str) -> list[str]:
    """Comma-separated when the line has a comma (no empty fields), else whitespace-separated."""
    if "," not in line:
        return line.split()
    tokens = [tok.strip() for tok in line.split(",")]
    if tokens[-1] == "" and "" not in tokens[:-1]:
        raise load_error(name, f"{where} ends with a comma", "remove the trailing comma")
    if "" in tokens:
        raise load_error(
            name,
            f"{where} has an empty value between commas",
            "remove the extra comma or fill in the number",
        )
    return tokens


def to_number(token: str, name: str, where: str) -> float:
    """``float(token)``: accepts exponents, inf, -inf and nan, not a finite number beyond float64.

    ``float("1e400")`` is inf: taken silently, a typo or a unit error would pass as an upstream
    +inf, so a finite number that overflows float64 is a LoadError naming where it is.
    """
    try:
        value = float(token)
    except ValueError:
        raise not_a_number(name, token, where) from None
    if math.isinf(value) and token.strip().lower() not in _SPECIAL_FLOATS:
        raise overflow_error(name, token, where)
    return value


_SHORTEST_ROUNDED = 16
"""The fewest characters of an integer literal float64 can round: every integer up to 2^53
(9007199254740992, 16 digits) is held exactly, so a shorter token needs no exact test."""


def rounded_integers(text: str, tokens: Sequence[str], read: Sequence[float]) -> int:
    """How many of ``tokens``, the numbers of ``text`` read as the end of ``read``, are integer
    literals (digits, an optional sign) whose value float64 does not hold: 9007199254740993
    reads as 9007199254740992. A decimal like 0.1 rounds as expected; one who wrote an integer
    expects it kept."""
    # nearly every line returns here, in C: a point in every token (a number has at most one),
    # or, every integer below 2^53 being exact, no more values at or above 2^53 than the line
    # spells infinities (NaN compares False; a spelling missed here only takes the exact look)
    if text.count(".") >= len(tokens):
        return 0
    big = sum(map(_EXACT_BELOW.__le__, map(abs, read[-len(tokens) :])))
    if big <= text.count("inf") + text.count("Inf") + text.count("INF"):
        return 0
    return sum(_rounds(tok) for tok in tokens if len(tok) >= _SHORTEST_ROUNDED)


_EXACT_BELOW = 2.0**53


def _rounds(token: str) -> bool:
    digits = token[1:] if token[0] in "+-" else token
    if not digits.replace("_", "").isdecimal():  # the digits int() and float() both read
        return False
    # exact both, float() having read it before (finite); Decimal reads _ and any script's
    # digits as float() does, and has no int() limit on digits (5000 leading zeros)
    return Decimal(float(token)) != Decimal(token)


def rounded_notes(rounded: int) -> tuple[str, ...]:
    """The note of ``rounded`` integer literals float64 changed, as an integer array's says."""
    return (rounded_note("integer literals read as float64", rounded),) if rounded else ()


def not_a_number(name: str, token: str, where: str) -> LoadError:
    """The LoadError for a token of text that is not a number (a quoted one, say)."""
    return load_error(
        name,
        f"{token[:40]!r} in {where} is not a number",
        "use plain numbers (inf, -inf and nan are allowed)",
    )


def overflow_error(name: str, token: str, where: str) -> LoadError:
    """The LoadError for a finite number written in text that float64 cannot hold."""
    shown = token if len(token) <= 40 else f"{token[:20]}...({len(token)} characters)"
    return load_error(
        name,
        f"{shown!r} at {where} overflows float64 on reading (beyond ±1.8e308)",
        "write inf or -inf if that is meant, else rescale the logits",
    )


def _is_quoted_number(token: str) -> bool:
    """``"1.5"`` or ``'1.5'``: a number in quotes, as a spreadsheet may export every field."""
    return len(token) > 2 and token[0] == token[-1] in "\"'" and _is_number(token[1:-1])


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def parse_json(text: str, name: str, key: str | None) -> tuple[np.ndarray, tuple[str, ...]]:
    """Nested lists, or an object whose ``key`` (or only list-valued entry) holds them, plus
    the note of integers float64 rounds (:func:`rounded_integers`) in the array read."""
    rounded: list[bool] = []  # whether any integer literal was rounded, anywhere in the text

    def json_int(digits: str) -> float | _Overflowed:
        if len(digits) < _SHORTEST_ROUNDED:
            return float(digits)  # exact, and finite
        value = _json_float(digits)
        if not isinstance(value, float) or not _rounds(digits):
            return value
        rounded.append(True)
        return _RoundedInt(value)  # marked, so only those in the array read are counted

    with reading(
        name,
        "it is not valid JSON",
        "write nested lists of numbers, e.g. [[1, 2], [3, 4]]",
        errors=(ValueError, RecursionError),
    ):
        # also accepts the NaN/Infinity literals Python writes; numbers are read as floats, so
        # no integer meets Python's int-string limit, and one too large is marked, not inf
        obj = json.loads(
            text,
            parse_float=_json_float,
            parse_int=json_int,
            object_pairs_hook=lambda pairs: unique_keys(
                pairs,
                lambda k: load_error(
                    name, f"an object in it has the key {k!r} twice", "give each array its own key"
                ),
            ),
        )
    if isinstance(obj, dict):
        obj = _keyed_list(obj, name, key)
    elif key is not None:
        raise load_error(name, f"it holds {_kind(obj)}, not an object with keys", f"drop ':{key}'")
    return _nested_to_array(obj, name), rounded_notes(_count_rounded(obj) if rounded else 0)


def _keyed_list(obj: dict[str, Any], name: str, key: str | None) -> Any:
    """The list under ``key`` of a top-level object (its only list without a key). Keys name
    top-level entries only: a dotted key is not a path into nested objects, as it is in .pt."""
    lists = [k for k, v in obj.items() if isinstance(v, list)]
    objects = [k for k, v in obj.items() if isinstance(v, dict)]
    fix = f"use one of {', '.join(map(repr, lists))}" if lists else _TOP_FIX
    if key is not None and key in obj and key not in lists:
        raise load_error(name, f"the key {key!r} names {_kind(obj[key])}, not a list", fix)
    if key is not None and key not in obj and "." in key and key.split(".")[0] in objects:
        raise load_error(
            name,
            f"there is no top-level key {key!r} (a key names a top-level entry, not a "
            "dotted path into nested objects)",
            fix,
        )
    if key is None and not lists and objects:
        raise load_error(
            name,
            f"no top-level key holds a list ({_kind(obj[objects[0]])} is under "
            f"{objects[0]!r}, and nested objects are not read)",
            _TOP_FIX,
        )
    return obj[select_key(name, lists, key, "list")]


_TOP_FIX = 'put the logits under a top-level key, e.g. {"logits": [[1, 2], [3, 4]]}'


def _kind(v: object) -> str:
    """What a JSON value is, in JSON's words (a Python dict is an object)."""
    if isinstance(v, dict):
        return "an object"
    if isinstance(v, list):
        return "a list"
    if isinstance(v, str):
        return "a string"
    return "null" if v is None else ("true/false" if isinstance(v, bool) else "a number")


def _nested_to_array(obj: object, name: str) -> np.ndarray:
    """Regular nested lists of numbers (or "inf"/"-inf"/"nan" strings) to a float64 array.

    Walks level by level rather than recursively, so deep input cannot exhaust the stack.
    """
    level: list[Any] = [obj]
    shape: list[int] = []
    while level and all(isinstance(x, list) for x in level):
        lengths = {len(x) for x in level}
        if len(lengths) > 1:
            raise load_error(
                name,
                f"the lists at depth {len(shape) + 1} have different lengths {sorted(lengths)[:4]}",
                _JSON_FIX,
            )
        shape.append(lengths.pop())
        if len(shape) > MAX_NDIM:
            raise load_error(name, f"the lists are nested more than {MAX_NDIM} deep", _JSON_FIX)
        level = [y for x in level for y in x]
    if any(isinstance(x, list) for x in level):
        raise load_error(name, f"depth {len(shape) + 1} mixes lists and numbers", _JSON_FIX)
    values = np.empty(len(level), dtype=np.float64)
    for i, v in enumerate(level):
        values[i] = _json_number(v, name, shape, i)
    return values.reshape(shape)


class _RoundedInt(float):
    """A JSON integer literal that float64 does not hold (its rounded value), to be counted."""


def _count_rounded(obj: object) -> int:
    """The :class:`_RoundedInt` values in nested lists ``obj`` (a walk, not a recursion)."""
    count, level = 0, [obj]
    while level:
        count += sum(type(x) is _RoundedInt for x in level)
        level = [y for x in level if isinstance(x, list) for y in x]
    return count


class _Overflowed:
    """A JSON number that float64 cannot hold, kept as written so its error can show it."""

    def __init__(self, text: str) -> None:
        self.text = text


def _json_float(text: str) -> float | _Overflowed:
    value = float(text)  # exact for integers too: correctly rounded, no digit limit
    return _Overflowed(text) if math.isinf(value) else value


def _json_number(v: object, name: str, shape: list[int], i: int) -> float:
    if isinstance(v, _Overflowed):
        raise overflow_error(name, v.text, _where(shape, i))
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return float(v)
    if isinstance(v, str) and v.strip().lower() in _SPECIAL_FLOATS:
        return float(v)
    shown = f"the value {json.dumps(v)[:40]}" if not isinstance(v, (dict, list)) else _kind(v)
    raise load_error(name, f"{shown} at {_where(shape, i)} is not a number", _JSON_FIX)


def _where(shape: list[int], i: int) -> str:
    return "".join(f"[{j}]" for j in np.unravel_index(i, shape)) if shape else "the top level"
