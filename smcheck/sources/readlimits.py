"""What a source read whole into memory may cost, judged against the memory budget before reading.

Memory-mapped sources (``.npy``, safetensors, uncompressed ``.npz`` members, ``.pt`` files in
the zip format) cost only the chunk being analysed. Everything else is held whole while it is
parsed or built: standard input, CSV/TXT/JSON text, compressed ``.npz`` members, generated
arrays and overlapping ``.pt`` views. Each is refused, before it is read or allocated, when its
cost would pass ``--memory-budget``; together with the analysis' own chunks a run then stays
within about twice the budget plus the fixed cost of the interpreter and torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from smcheck.errors import FLAGS
from smcheck.sources.validation import load_error

TEXT_BYTES_PER_BYTE = 4
"""CSV/TXT: a float64 (8 bytes) for each value, and every value takes at least 2 bytes of text
(``1,``); the rows are parsed a line at a time into one growing buffer."""

JSON_BYTES_PER_BYTE = 16
"""JSON: a Python float and its list slot (32 bytes) per value of at least 4 bytes (``1e1,``),
then the flat list and the float64 array: about 12 bytes per byte of JSON, measured."""


@dataclass(frozen=True)
class ReadLimit:
    """The memory budget as it applies to a source held whole in memory."""

    budget: int
    """Bytes (``--memory-budget`` MiB x 2**20)."""
    spelling: str = FLAGS
    """How a refusal names the budget: as the command line takes it (smcheck.errors.FLAGS, in
    MiB) or as the Python API does (ARGUMENTS, in bytes)."""

    def bytes_for(self, per_byte: int) -> int:
        """The most input bytes a reader needing ``per_byte`` bytes for each may take."""
        return self.budget // per_byte

    def check(self, name: str, what: str, size: int, per_byte: int = 1) -> None:
        """Refuse ``size`` bytes of ``what`` (e.g. ``"CSV text"``) when they would not fit.

        Raises:
            LoadError: naming the size, the limit and the budget it comes from.
        """
        limit = self.bytes_for(per_byte)
        if size > limit:
            cost = (
                f", which takes {per_byte} bytes of memory per byte while parsing"
                if (per_byte > 1)
                else ""
            )
            raise load_error(
                name,
                f"it holds {human_bytes(size)} of {what}{cost}: above the "
                f"{human_bytes(limit)} that {self.named()} allows",
                f"save the logits with numpy.save as .npy (memory-mapped), or {self.raise_it()}",
                options=("memory_budget",),
            )

    def named(self, n: int | None = None) -> str:
        """The budget, or ``n`` bytes, as the user gives it, with its unit where the number alone
        does not say it: ``--memory-budget 512 (MiB)`` (the command line and a config file),
        ``memory_budget=536870912`` (bytes, the API, whose keyword reference states it)."""
        n = self.budget if n is None else n
        if self.spelling == FLAGS:
            return FLAGS.format("memory-budget", f"{n / 2**20:g} (MiB)")
        return self.spelling.format("memory_budget", n)

    def raise_it(self, need: int | None = None) -> str:
        """The fix: raise the budget, to at least ``need`` bytes where known."""
        option = "--memory-budget" if self.spelling == FLAGS else "memory_budget"
        if need is None:
            return f"raise {option}"
        return f"raise it to {self.named(-(-need // 2**20) * 2**20)} or more"


def mib_up(n: int) -> str:
    """``n`` bytes in MiB rounded up to a thousandth: a need just over a budget never reads as
    equal to it ("needs 1.001 MiB, more than 1 MiB", not "needs 1 MiB")."""
    return f"{math.ceil(n / 2**20 * 1000) / 1000:g} MiB"


def human_bytes(n: int) -> str:
    """``1.5 GiB``, ``640 MiB``, ``12 KiB`` or ``100 bytes``."""
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n} bytes"
