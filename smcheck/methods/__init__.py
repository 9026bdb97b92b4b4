"""The registry of softmax methods; ids are stable and appear in JSON."""

from __future__ import annotations

from smcheck.errors import UnknownMethodError
from smcheck.methods import framework, strict
from smcheck.methods.base import MethodOutput, NanCause, SoftmaxMethod

METHODS: dict[str, SoftmaxMethod] = {
    m.name: m
    for m in (
        SoftmaxMethod(
            "naive", "w = exp(x); p = w / sum(w)", "log(p)", framework.naive, strict.naive
        ),
        SoftmaxMethod(
            "shifted",
            "w = exp(x - max x); p = w / sum(w)",
            "log(p)",
            framework.shifted,
            strict.shifted,
        ),
        SoftmaxMethod(
            "logdomain",
            "z = (x - m) - log sum exp(x - m); p = exp(z)",
            "log-softmax",
            framework.logdomain,
            strict.logdomain,
        ),
        SoftmaxMethod(
            "torch",
            "torch.softmax / torch.log_softmax (fused kernels)",
            "log-softmax",
            framework.fused,
        ),
        SoftmaxMethod(
            "lse-direct",
            "z = x - logsumexp(x) in one step; p = exp(z)",
            "log-softmax",
            framework.lse_direct,
            strict.lse_direct,
        ),
        SoftmaxMethod(
            "online",
            "single pass: running max m and normaliser d = d*exp(m_old - m) + exp(x - m)",
            "log(p)",
            framework.online,
            strict.online,
        ),
    )
}

DEFAULT_METHODS: tuple[str, ...] = ("naive", "shifted", "logdomain", "torch")

STRICT_DEFAULT_METHODS: tuple[str, ...] = ("naive", "shifted", "logdomain")
"""The default under ``--model strict``: the default set less ``torch``, the framework's own
fused kernel, which has no strict form."""


def get_method(name: str) -> SoftmaxMethod:
    """The registered method with this id; :class:`UnknownMethodError` lists the valid ids."""
    key = name.strip().lower()
    if key not in METHODS:
        raise UnknownMethodError(f"unknown method {name!r}; use one of {', '.join(METHODS)}")
    return METHODS[key]


__all__ = [
    "DEFAULT_METHODS",
    "METHODS",
    "STRICT_DEFAULT_METHODS",
    "MethodOutput",
    "NanCause",
    "SoftmaxMethod",
    "get_method",
]
