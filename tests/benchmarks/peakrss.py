"""Resident memory of this process: its own peak, and what one memory-mapped file holds."""

from __future__ import annotations

import resource
from pathlib import Path

_STATUS = Path("/proc/self/status")
_SMAPS = Path("/proc/self/smaps")


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
    """Bytes of ``path``'s mappings resident in this process (None where /proc is missing)."""
    if not _SMAPS.exists():
        return None
    target, total, inside = str(Path(path).resolve()), 0, False
    for line in _SMAPS.read_text().splitlines():
        head = line.split()
        if head and "-" in head[0] and len(head) >= 5 and ":" in head[3]:  # a mapping's header
            inside = len(head) >= 6 and line.rstrip().endswith(target)
        elif inside and head and head[0] == "Rss:":
            total += int(head[1]) * 1024
    return total
