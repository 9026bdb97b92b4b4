"""torch's inference fast paths that a capture turns off: which modules would have taken them,
and what those paths return for a fully padded sequence on the installed torch.

``nn.MultiheadAttention``, ``nn.TransformerEncoderLayer`` and ``nn.TransformerEncoder`` check
their fast-path conditions in ``forward`` (eval mode, batch_first, no autocast, ...) and call
``torch.overrides.has_torch_function(tensor_args)`` only once every earlier one holds; an active
torch-function mode makes it answer True, so the module runs its ordinary path. The watch wraps
that function for the capture: a call from one of those ``forward``\\ s whose remaining
conditions (devices, no gradient needed, not tracing, and a MultiheadAttention with an input
projection bias) hold, and whose arguments are plain tensors, marks the module as one that would
have taken the fast path uncaptured. torch decides everything else.
"""

from __future__ import annotations

import functools
import sys
import warnings
from dataclasses import dataclass
from typing import Any

from smcheck.capture.sites import ModuleStack

_DEVICES = ("cpu", "cuda", "xpu")
"""The device types the encoder fast paths accept (and torch's privateuse1 backend), as torch
lists them."""


@dataclass(frozen=True)
class FastPathSkip:
    """A module that would have taken torch's fast path, had capture not been active."""

    kind: str
    """``MultiheadAttention``, ``TransformerEncoderLayer`` or ``TransformerEncoder``."""
    device: str
    dtype: str


class FastPathWatch:
    """Wraps ``torch.overrides.has_torch_function`` while a capture runs (module paths by
    ``modules``); ``skipped`` maps each module path to the fast path it would have taken."""

    def __init__(self, modules: ModuleStack) -> None:
        self.modules = modules
        self.skipped: dict[str, FastPathSkip] = {}
        self._original: Any = None

    def __enter__(self) -> FastPathWatch:
        import torch.overrides

        self._original = original = torch.overrides.has_torch_function
        kinds = _forward_kinds()

        def has_torch_function(args: Any) -> bool:
            found = original(args)
            kind = kinds.get(sys._getframe(1).f_code)
            if found and kind is not None:
                self._note(kind, sys._getframe(1).f_locals.get("self"), args)
            return found

        torch.overrides.has_torch_function = has_torch_function
        return self

    def __exit__(self, *exc: Any) -> None:
        import torch.overrides

        if self._original is not None:
            torch.overrides.has_torch_function = self._original
            self._original = None

    def _note(self, kind: str, module: Any, args: Any) -> None:
        if module is None or not _rest_holds(kind, module, args):
            return
        stack = self.modules.stack
        if not stack or stack[-1] is not module:  # forward called directly: no path to name
            return
        path = self.modules.current()
        if path not in self.skipped:
            src = args[0]
            self.skipped[path] = FastPathSkip(kind, str(src.device), _dtype_name(src.dtype))


def _forward_kinds() -> dict[Any, str]:
    """The code of each ``forward`` that checks a fast path -> the module's kind."""
    from torch import nn

    kinds = (nn.MultiheadAttention, nn.TransformerEncoderLayer, nn.TransformerEncoder)
    return {k.forward.__code__: k.__name__ for k in kinds}


def _rest_holds(kind: str, module: Any, args: Any) -> bool:
    """torch's conditions after ``has_torch_function`` in the ``forward`` of ``kind`` (torch 2.13),
    and the arguments plain tensors, whose own ``__torch_function__`` (a subclass's) would turn
    the fast path off without capture too."""
    import torch

    tensors = [t for t in args if t is not None]
    if not all(type(t) in (torch.Tensor, torch.nn.Parameter) for t in tensors):
        return False
    if torch.is_grad_enabled() and any(t.requires_grad for t in tensors):
        return False
    if kind == "MultiheadAttention":
        # without an input projection bias (bias=False) forward falls through to the ordinary
        # path even uncaptured; make_fx tracing turns the fast path off too
        return (
            all(t.device.type in _devices(with_xpu=False) for t in tensors)
            and module.in_proj_bias is not None
            and module.in_proj_weight is not None
            and not _make_fx_tracing()
        )
    # the encoder checks the device of its input alone, the layer that of every argument
    checked = tensors[:1] if kind == "TransformerEncoder" else tensors
    return all(t.device.type in _devices(with_xpu=True) for t in checked)


def _devices(*, with_xpu: bool) -> tuple[str, ...]:
    """The device types a fast path accepts: MultiheadAttention's list lacks xpu."""
    import torch

    listed = _DEVICES if with_xpu else tuple(d for d in _DEVICES if d != "xpu")
    return (*listed, torch._C._get_privateuse1_backend_name())


def _make_fx_tracing() -> bool:
    """MultiheadAttention's own test (absent from a torch without it: not tracing)."""
    from torch.nn.modules import activation

    tracing = getattr(activation, "_is_make_fx_tracing", None)
    return bool(tracing()) if tracing is not None else False


def _dtype_name(dtype: Any) -> str:
    return str(dtype).removeprefix("torch.")


def governing(module: str, skipped: dict[str, FastPathSkip]) -> tuple[str, FastPathSkip] | None:
    """The outermost module at or above ``module`` (a site's path) that would have taken a fast
    path: the one that runs it uncaptured (a TransformerEncoder's nested-tensor path runs its
    layers' fast paths itself)."""
    above = [
        p for p in skipped if p == module or module.startswith(p + ".") or (p == "" and module)
    ]
    if not above:
        return None
    path = min(above, key=len)
    return path, skipped[path]


def padded_output(skip: FastPathSkip) -> str | None:
    """What the fast path of a fresh module of the kind returns on its device, in its format,
    for a sequence whose key_padding_mask is all True, checked by running it: ``"NaN"`` or
    ``"zeros"`` (every output of that sequence; the other sequence finite), None otherwise, when
    it cannot run, or while a torch-function mode (a capture) would turn the fast path off."""
    import torch

    if torch._C._is_torch_function_mode_enabled():
        return None
    return _probe(skip.kind, skip.device, skip.dtype)


@functools.cache
def _probe(kind: str, device: str, dtype: str) -> str | None:
    """:func:`padded_output`, once per process; the caller's random state is left as it was."""
    import torch
    from torch import nn

    devices = [torch.device(device).index or 0] if torch.device(device).type == "cuda" else []
    width, heads = 4, 2  # even heads, batch_first: the fast paths' own conditions
    try:
        with torch.random.fork_rng(devices), torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the nested-tensor prototype warns
            opts = {"device": device, "dtype": getattr(torch, dtype)}
            g = torch.Generator(device=device).manual_seed(0)
            x = torch.randn(2, 3, width, generator=g, device=device).to(opts["dtype"])
            pad = torch.tensor([[False, False, True], [True, True, True]], device=device)
            if kind == "MultiheadAttention":
                mha = nn.MultiheadAttention(width, heads, batch_first=True, **opts).eval()
                out = mha(x, x, x, key_padding_mask=pad, need_weights=False)[0]
            else:
                layer = nn.TransformerEncoderLayer(
                    width, heads, 2 * width, dropout=0.0, batch_first=True, **opts
                )
                if kind == "TransformerEncoder":
                    layer = nn.TransformerEncoder(layer, 1, enable_nested_tensor=True)
                out = layer.eval()(x, src_key_padding_mask=pad)
    except Exception:  # a format or device the probe cannot run in: claim nothing
        return None
    if not bool(torch.isfinite(out[0]).all()):
        return None
    if bool(torch.isnan(out[1]).all()):
        return "NaN"
    return "zeros" if bool((out[1] == 0).all()) else None
