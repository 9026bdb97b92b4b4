"""The registry of softmax methods; ids are stable and appear in JSON."""

from __future__ import annotations

from smcheck.errors import UnknownMethodError
from smcheck.methods import framework
from smcheck.methods.base import MethodOutput, NanCause, SoftmaxMethod

METHODS: dict[str, SoftmaxMethod] = {
    m.name: m
    for m in (
        SoftmaxMethod("naive", "w = exp(x); p = w / sum(w)", "log(p)", framework.naive),
        SoftmaxMethod("shifted", "w = exp(x - max x); p = w / sum(w)", "log(p)", framework.shifted),
        SoftmaxMethod(
            "logdomain",
            "z = (x - m) - log sum exp(x - m); p = exp(z)",
            "log-softmax",
            framework.logdomain,
        ),
        SoftmaxMethod(
            "torch",
            "torch.softmax / torch.log_softmax (fused kernels)",
            "log-softmax",
            framework.fused,
        ),
    )
}

DEFAULT_METHODS: tuple[str, ...] = ("naive", "shifted", "logdomain", "torch")


def get_method(name: str) -> SoftmaxMethod:
    """The registered method with this id; :class:`UnknownMethodError` lists the valid ids."""
    key = name.strip().lower()
    if key not in METHODS:
        raise UnknownMethodError(f"unknown method {name!r}; use one of {', '.join(METHODS)}")
    return METHODS[key]


__all__ = ["DEFAULT_METHODS", "METHODS", "MethodOutput", "NanCause", "SoftmaxMethod", "get_method"]
