"""Call sites of a live capture: who called the op (module path, file, line) and its row sample."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

_DISPATCH = ("overrides.py", "nn/functional.py", "_tensor.py", "functional.py")
# frames in these packages are the machinery between the user's line and the op
_SKIPPED = (
    os.sep + os.path.join("torch", ""),
    os.sep + os.path.join("smcheck", "capture", ""),
    os.sep + "contextlib.py",
)

_PLUMBING = (
    _SKIPPED[1],
    *(os.sep + os.path.join("torch", *p.split("/")) for p in _DISPATCH),
)
"""Frames between a call and the op that are never its ``via``: the torch-function dispatch."""


def call_arg(args: tuple, kwargs: dict, i: int, name: str, default: Any = None) -> Any:
    """A hooked call's argument ``name``, given as the i-th positional one or by keyword."""
    return args[i] if len(args) > i else kwargs.get(name, default)


@dataclass(frozen=True)
class SiteKey:
    """What makes two calls the same site."""

    op: str
    module: str
    file: str
    line: int
    via: str | None = None
    formats: str = ""
    """The op's dtype and its input's: one site never mixes rows of two formats."""


def caller(frame: FrameType | None) -> tuple[str, int, str | None]:
    """The user's line that ran the op (the first frame outside torch and smcheck.capture), and
    the torch line that called it when the call came from inside torch (``via``)."""
    via = None
    while frame is not None and any(s in frame.f_code.co_filename for s in _PLUMBING):
        frame = frame.f_back
    if frame is not None and _SKIPPED[0] in frame.f_code.co_filename:
        path = frame.f_code.co_filename
        via = f"{path[path.rindex(_SKIPPED[0]) + 1 :]}:{frame.f_lineno}".replace(os.sep, "/")
    while frame is not None and any(s in frame.f_code.co_filename for s in _SKIPPED):
        frame = frame.f_back
    if frame is None:
        return "<unknown>", 0, via
    return shown_path(frame.f_code.co_filename), frame.f_lineno, via


def shown_path(path: str) -> str:
    """``path`` relative to the working directory when inside it (reports carry no home paths)."""
    try:
        rel = os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return path
    return path if rel.startswith("..") else rel


class ModuleStack:
    """The modules running now, outermost first, named by their path in the outermost one."""

    def __init__(self) -> None:
        self.stack: list[Any] = []
        self._names: dict[int, dict[int, str]] = {}

    def push(self, module: Any, *_: Any) -> None:
        self.stack.append(module)

    def pop(self, module: Any, *_: Any) -> None:
        # a forward that raised still pops (always_call); pop up to this module
        while self.stack:
            if self.stack.pop() is module:
                break

    def current(self) -> str:
        """``encoder.layers.0.self_attn``: the innermost module's path in the outermost one."""
        if not self.stack:
            return ""
        root, inner = self.stack[0], self.stack[-1]
        names = self._names.get(id(root))
        if names is None:
            names = {id(m): n for n, m in root.named_modules()}
            self._names[id(root)] = names
        name = names.get(id(inner))
        return name if name is not None else type(inner).__name__


@dataclass
class SiteRecord:
    """One site's counters and its seeded row sample (the rows with the smallest keys)."""

    key: SiteKey
    dtype: str
    autocast: str | None
    dim: int
    use: str
    reconstructed: bool = False
    calls: int = 0
    rows_seen: int = 0
    nan_rows: int = 0
    nan_masked: int = 0
    """Of ``nan_rows``: rows whose every input was -inf (fully masked)."""
    nan_upstream: int = 0
    """Of ``nan_rows``: rows whose input already held NaN or +inf."""
    nan_finite: int = 0
    """Of ``nan_rows``: sampled rows of finite logits (and -inf, not all of them)."""
    masked_zero_rows: int = 0
    """Fully masked rows the fused kernel returned as zeros (left out of the sample)."""
    loss_calls: Any = None
    """A loss site's LossCalls: what the cells do not model of its calls (losscall.py)."""
    log_underflow: Any = None
    """An nll_loss site's LogUnderflow: targets at -inf, underflowed or masked (logsoftmax.py)."""
    padded: bool = False
    """Calls had different row lengths; shorter rows were padded with -inf."""
    products: Any = None
    """A fused attention site's largest |q·k| over its calls (reconstruct.Products)."""
    keys: Any = None
    rows: Any = None
    targets: Any = None
    notes: list[str] = field(default_factory=list)

    def offer(self, keys: Any, rows: Any, targets: Any, budget: int) -> None:
        """Merge candidate rows (host tensors) into the sample: the ``budget`` smallest keys stay.

        Rows of different lengths are padded with -inf, which leaves every softmax unchanged.
        """
        import torch

        if self.rows is not None:
            if (targets is None) != (self.targets is None):
                targets = self.targets = None  # some calls had no class targets: use none
            width = max(self.rows.shape[1], rows.shape[1])
            self.padded |= self.rows.shape[1] != rows.shape[1]
            self.rows, rows = _pad(self.rows, width), _pad(rows, width)
            keys = torch.cat([self.keys, keys])
            rows = torch.cat([self.rows, rows.to(self.rows.dtype)])
            if targets is not None:
                targets = torch.cat([self.targets, targets])
        if keys.numel() > budget:
            keep = torch.topk(keys, budget, largest=False, sorted=False).indices.sort().values
            keys, rows = keys[keep], rows[keep]
            targets = targets[keep] if targets is not None else None
        self.keys, self.rows, self.targets = keys, rows, targets


def _pad(rows: Any, width: int) -> Any:
    import torch

    if rows.shape[1] == width:
        return rows
    pad = torch.full((rows.shape[0], width - rows.shape[1]), float("-inf"), dtype=rows.dtype)
    return torch.cat([rows, pad], dim=1)


def this_frame() -> FrameType:
    return sys._getframe(1)
