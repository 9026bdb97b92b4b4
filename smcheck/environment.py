"""The environment a report records: versions, the CPU, the threads used, the device."""

from __future__ import annotations

import platform
from importlib import metadata

from smcheck import __version__
from smcheck.report.environmentmodel import Environment
from smcheck.threads import thread_counts

CPUINFO = "/proc/cpuinfo"


def collect_environment(threads: int | None = None) -> Environment:
    """The :class:`Environment` of an analysis run here on ``threads`` (None: the defaults)."""
    return Environment(
        smcheck=__version__,
        python=platform.python_version(),
        torch=_version("torch"),
        numpy=_version("numpy"),
        numba=_version("numba"),
        cpu=platform.machine() or platform.processor() or "unknown",
        cpu_model=cpu_model(),
        torch_cpu_capability=torch_cpu_capability(),
        threads=thread_counts(threads),
    )


def _version(dist: str) -> str:
    """An installed distribution's version, read from its metadata (no import)."""
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def torch_cpu_capability() -> str | None:
    """torch's CPU kernel dispatch level (``torch.backends.cpu.get_cpu_capability()``)."""
    import torch

    try:
        return str(torch.backends.cpu.get_cpu_capability())
    except (AttributeError, RuntimeError):
        return None


def cpu_model(path: str = CPUINFO) -> str | None:
    """The first ``model name`` in ``path`` (Linux's /proc/cpuinfo), or None where unreadable."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                key, sep, value = line.partition(":")
                if sep and key.strip() == "model name" and value.strip():
                    return value.strip()
    except OSError:
        return None
    return None
