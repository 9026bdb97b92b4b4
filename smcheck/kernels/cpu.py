"""What numba compiles the kernels for: this CPU, with 512-bit vectors where it has AVX-512.

On CPUs with AVX-512, LLVM vectorises 256 bits wide by default (``prefer-256-bit``): on the
first Xeons with it, 512-bit work lowered the core's clock. On the development machine 512
bits took the cell kernel's time in an analysis to 0.86 of the 256-bit build's, the analysis'
CPU time to 0.93-0.95 (docs/performance-history.md, "512-bit vectors"). The vector width
changes no result: without fastmath LLVM does not reorder arithmetic, so every lane computes
what the scalar code would.
"""

from __future__ import annotations

NARROW_CPUS = frozenset({"skylake-avx512", "cascadelake", "cooperlake"})
"""LLVM's names of the CPUs whose clock drops most under 512-bit work: they keep LLVM's choice."""

WIDE = "-prefer-256-bit"


def wide_features(features: str, cpu: str) -> str | None:
    """LLVM's feature string ``features`` of CPU ``cpu`` with 512-bit vectors preferred, or None
    where it has no AVX-512 or is one of :data:`NARROW_CPUS`."""
    if "+avx512f" not in features.split(",") or cpu in NARROW_CPUS:
        return None
    return f"{features},{WIDE}"


def prefer_wide_vectors() -> bool:
    """Have numba compile for this CPU's features with :func:`wide_features`, unless the user
    chose the target (``NUMBA_CPU_NAME``, ``NUMBA_CPU_FEATURES``). Returns whether it did.

    numba takes its target once per process, when it builds its CPU target (at the first
    ``njit`` function), so this runs when smcheck.kernels is imported, before any. It holds
    for the process's other numba code too (where numba had built its target already, nothing
    changes); its compile children (smcheck.kernels.compile_all) decide the same, so their
    cache entries are the parent's.
    """
    import llvmlite.binding as ll
    from numba.core import config, registry

    if config.CPU_NAME is not None or config.CPU_FEATURES is not None:
        return False  # set by the user (environment or .numba_config.yaml), or done already
    if "_toplevel_target_context" in vars(registry.cpu_target):  # built: too late
        return False
    wide = wide_features(ll.get_host_cpu_features().flatten(), ll.get_host_cpu_name())
    config.CPU_FEATURES = wide
    return wide is not None
