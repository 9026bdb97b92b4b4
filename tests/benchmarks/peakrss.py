"""Resident memory of this process: its own peak, and what one memory-mapped file holds."""

from __future__ import annotations

import os
import resource
from pathlib import Path

import numpy as np

_STATUS = Path("/proc/self/status")
_SMAPS = Path("/proc/self/smaps")
_MAPS = Path("/proc/self/maps")
_PAGEMAP = Path("/proc/self/pagemap")


def peak_rss_mib() -> float:
    """This process's peak resident set (MiB): VmHWM on Linux, ru_maxrss elsewhere.

    Not ru_maxrss on Linux: a process started by ``subprocess`` (vfork + exec) inherits its
    parent's peak there, so a benchmark that wrote a 4 GiB file before starting the analysis
    would see 4 GiB in the analysis' ru_maxrss whatever the analysis did.
    """
    if _STATUS.exists():
        for line in _STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def mapped_rss(path: Path) -> int | None:
    """Bytes of ``path``'s mappings resident in this process (None where /proc is missing).

    Reads the page-present bits of just those mappings from /proc/self/pagemap: the same count
    as their ``Rss:`` in /proc/self/smaps, which the kernel builds by walking every mapping of
    the process (about 0.1 s with torch loaded, and tests probe hundreds of times).
    """
    if not _SMAPS.exists():
        return None
    target = str(Path(path).resolve())
    try:
        return _pagemap_rss(target)
    except OSError:  # pagemap restricted (some containers): the slower, equivalent smaps count
        return _smaps_rss(target)


def _pagemap_rss(target: str) -> int:
    """Resident bytes of ``target``'s mappings from the present bit (63) of each page's entry."""
    page = os.sysconf("SC_PAGE_SIZE")
    total = 0
    with open(_PAGEMAP, "rb") as pagemap:
        for line in _MAPS.read_text().splitlines():
            if not line.rstrip().endswith(target):
                continue
            lo, hi = (int(a, 16) for a in line.split(maxsplit=1)[0].split("-"))
            pagemap.seek(lo // page * 8)
            entries = np.frombuffer(pagemap.read((hi - lo) // page * 8), dtype="<u8")
            total += int(np.count_nonzero(entries >> np.uint64(63))) * page
    return total


def _smaps_rss(target: str) -> int:
    """Resident bytes of ``target``'s mappings summed from their ``Rss:`` lines in smaps."""
    total, inside = 0, False
    for line in _SMAPS.read_text().splitlines():
        head = line.split()
        if head and "-" in head[0] and len(head) >= 5 and ":" in head[3]:  # a mapping's header
            inside = len(head) >= 6 and line.rstrip().endswith(target)
        elif inside and head and head[0] == "Rss:":
            total += int(head[1]) * 1024
    return total
