"""What a report was computed on: the versions, the CPU and the threads (``environment``)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Environment:
    """The software and hardware of a run, so that reports from two machines can be compared."""

    smcheck: str
    python: str
    torch: str
    numpy: str
    numba: str
    cpu: str
    """The architecture (``platform.machine()``, e.g. ``x86_64``) or processor name."""
    cpu_model: str | None
    """The CPU model from /proc/cpuinfo (Linux), e.g. ``AMD EPYC 7B13``; None where unreadable."""
    torch_cpu_capability: str | None = None
    """The vector instructions torch's CPU kernels dispatch to (``AVX512``, ``AVX2``,
    ``DEFAULT``; the ``ATEN_CPU_CAPABILITY`` variable lowers it): the same torch rounds
    differently on another, so the framework's cells may differ in their last digits."""
    threads: dict[str, int] = field(default_factory=dict)
    """Threads the analysis ran on: ``{"torch": intra-op threads, "numba": kernel threads}``."""
    device: str = "cpu"
    """Where the methods ran: smcheck analyses on the CPU."""
