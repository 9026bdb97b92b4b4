"""The function mode that sees every softmax-family call and records its rows at its call site.

A :class:`torch.overrides.TorchFunctionMode` sees each call at the Python API, before autocast,
by the spelling the user wrote (``F.softmax``, ``Tensor.log_softmax``, ``F.cross_entropy`` ...).
The op runs first and its result is returned untouched; the rows are then read, never written.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from smcheck.capture.logsoftmax import LogOfSoftmax, LogUnderflow
from smcheck.capture.losscall import LossCalls, judge_call, loss_rows
from smcheck.capture.reconstruct import attention_rows
from smcheck.capture.sites import ModuleStack, SiteKey, SiteRecord, call_arg, caller, this_frame


def _op_table() -> dict[Any, tuple[str, str]]:
    """Each hooked function -> (op name, use of its result)."""
    import torch
    import torch.nn.functional as F

    table: dict[Any, tuple[str, str]] = {}
    for f in (torch.softmax, F.softmax, torch.Tensor.softmax, torch.special.softmax):
        table[f] = ("softmax", "probs")
    for f in (torch.log_softmax, F.log_softmax, torch.Tensor.log_softmax):
        table[f] = ("log_softmax", "logprobs")
    table[torch.special.log_softmax] = ("log_softmax", "logprobs")
    table[F.softmin] = ("softmin", "probs")
    table[F.cross_entropy] = ("cross_entropy", "loss")
    table[F.nll_loss] = ("nll_loss", "loss")
    table[F.scaled_dot_product_attention] = ("scaled_dot_product_attention", "probs")
    return table


def _implicit_dim(ndim: int) -> int:
    """torch's rule for ``F.softmax(x)`` without ``dim`` (deprecated, still used)."""
    return 0 if ndim in (0, 1, 3) else 1


def _no_autocast() -> contextlib.ExitStack:
    """Autocast off where the user's code turned it on: under CPU bfloat16 autocast the rebuilt
    attention scores came back bfloat16 and could not be stored with the float32 ones."""
    import torch

    stack = contextlib.ExitStack()
    for device in ("cpu", "cuda"):
        if torch.is_autocast_enabled(device):
            stack.enter_context(torch.autocast(device, enabled=False))
    return stack


def _torch_function_mode() -> type:
    from torch.overrides import TorchFunctionMode

    class CaptureMode(TorchFunctionMode):
        """Records each hooked call through ``on_call``; every other call passes straight on."""

        def __init__(self, on_call: Callable[..., None], on_log: Callable[..., None]) -> None:
            import torch

            super().__init__()
            self.table = _op_table()
            self.on_call = on_call
            self.on_log = on_log  # torch.log of a softmax: the log(softmax) trap (logsoftmax.py)
            self.logs = (torch.log, torch.Tensor.log)
            self.failures: list[str] = []

        def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
            kwargs = kwargs or {}
            hooked = self.table.get(func)
            if hooked is not None:
                out = func(*args, **kwargs)
                try:
                    self.on_call(hooked, args, kwargs, out)
                except Exception as e:  # recording must never break the model's run
                    self.failures.append(f"{hooked[0]}: {type(e).__name__}: {e}")
                return out
            if func in self.logs and args:
                out = func(*args, **kwargs)
                try:
                    self.on_log(args[0], out)
                except Exception as e:
                    self.failures.append(f"log: {type(e).__name__}: {e}")
                return out
            import torch.nn.functional as F

            if func is F.multi_head_attention_forward:
                return self._visible_inside(func, args, kwargs)
            return func(*args, **kwargs)

        def _visible_inside(self, func, args, kwargs):  # type: ignore[no-untyped-def]
            """Run a composite function with the mode active inside it, so its softmax (or
            scaled_dot_product_attention) is seen. The mode is off while it handles a call, so
            it is pushed again, and the function's own first torch-function check is answered
            "no" once, or it would hand the call straight back here."""
            import torch.nn.functional as F

            original = F.has_torch_function
            first = [True]

            def once(ops: Any) -> bool:
                if first[0]:
                    first[0] = False
                    return False
                return original(ops)

            F.has_torch_function = once
            try:
                with self:
                    return func(*args, **kwargs)
            finally:
                F.has_torch_function = original

    return CaptureMode


class Recorder:
    """The sites of one capture and the function that records a call at its site."""

    def __init__(self, max_rows_per_site: int, seed: int) -> None:
        self.budget = max_rows_per_site
        self.seed = seed
        self.sites: dict[SiteKey, SiteRecord] = {}
        self.modules = ModuleStack()
        self._generators: dict[tuple[SiteKey, str], Any] = {}
        self.logs = LogOfSoftmax()
        self.mode = _torch_function_mode()(self.on_call, self.on_log)

    def on_log(self, p: Any, out: Any) -> None:
        if self.logs.remembers(p):
            file, line, _ = caller(this_frame())
            self.logs.log(p, out, f"{file}:{line}")

    def on_call(self, hooked: tuple[str, str], args: tuple, kwargs: dict, out: Any) -> None:
        import torch

        op, use = hooked
        with torch.no_grad():
            got = _rows_of(op, args, kwargs, out)
            if got is None:
                return
            rows, targets, nan_rows, dim, dtype, rebuild, loss = got
            # a site in another format (or fed another format) is another site
            formats = f"{dtype}<-{rows.dtype}"
            key = SiteKey(op, self.modules.current(), *caller(this_frame()), formats=formats)
            site = self.sites.get(key)
            if site is None:
                site = SiteRecord(key, str(dtype).removeprefix("torch."), _autocast(rows), dim, use)
                site.reconstructed = rebuild is not None
                self.sites[key] = site
            site.calls += 1
            if op in ("softmax", "softmin"):
                self.logs.softmax(out, call_arg(args, kwargs, 0, "input"), dim, op == "softmin")
            if loss is not None:
                site.loss_calls = site.loss_calls or LossCalls()
                judge_call(site.loss_calls, op, args, kwargs, loss, site.dtype)
            if op == "nll_loss":
                under = site.log_underflow = site.log_underflow or LogUnderflow()
                self.logs.judge(call_arg(args, kwargs, 0, "input"), loss, under)
            with _no_autocast():  # the rows rebuilt keep their dtype (the site's was read above)
                self._sample(site, rows, targets, nan_rows, rebuild)

    def _sample(self, site: SiteRecord, rows, targets, nan_rows, rebuild) -> None:  # type: ignore[no-untyped-def]
        """Draw this call's seeded row keys and offer the rows with the smallest to the sample."""
        import torch

        n = nan_rows.numel()
        site.rows_seen += n
        gen = self._generator(site.key, nan_rows.device)
        keys = torch.rand(n, generator=gen, device=nan_rows.device, dtype=torch.float64)
        keys = keys - nan_rows.to(torch.float64)  # rows that returned NaN are kept first
        idx = torch.topk(keys, min(self.budget, n), largest=False, sorted=False).indices.sort()[0]
        if rebuild is not None:
            picked, products = rebuild(idx)
            site.products = products.merge(site.products)
        else:
            picked = rows[idx]
        picked = picked.cpu()
        picked_nan = nan_rows[idx].cpu()
        _count_nan_causes(site, picked, picked_nan, int(nan_rows.sum()))
        kept_keys = keys[idx].cpu()
        kept_targets = targets[idx].cpu() if targets is not None else None
        if rebuild is not None:
            # a fully masked row the fused kernel returned as zeros is handled, not a finding
            zeros = torch.isneginf(picked).all(dim=1) & ~picked_nan
            site.masked_zero_rows += int(zeros.sum())
            picked, kept_keys = picked[~zeros], kept_keys[~zeros]
        site.offer(kept_keys, picked, kept_targets, self.budget)

    def _generator(self, key: SiteKey, device: Any) -> Any:
        import torch

        k = (key, str(device))
        gen = self._generators.get(k)
        if gen is None:
            gen = torch.Generator(device=device)
            gen.manual_seed(self.seed + len(self._generators))
            self._generators[k] = gen
        return gen


def _count_nan_causes(site: SiteRecord, picked: Any, picked_nan: Any, total_nan: int) -> None:
    """Count NaN rows, and among the sampled ones those fully masked, already non-finite, or
    neither (finite logits)."""
    import torch

    site.nan_rows += total_nan
    if not total_nan:
        return
    rows = picked[picked_nan]
    masked = torch.isneginf(rows).all(dim=1)
    upstream = (torch.isnan(rows) | torch.isposinf(rows)).any(dim=1)
    site.nan_masked += int(masked.sum())
    site.nan_upstream += int((upstream & ~masked).sum())
    site.nan_finite += int((~upstream & ~masked).sum())


def _autocast(t: Any) -> str | None:
    import torch

    kind = t.device.type
    if not torch.is_autocast_enabled(kind):
        return None
    return f"{kind}:{str(torch.get_autocast_dtype(kind)).removeprefix('torch.')}"


def _rows_of(op: str, args: tuple, kwargs: dict, out: Any) -> Any:
    """(rows, targets, nan_rows, dim, dtype, reconstruct, loss) of one call, or None to skip it.

    ``rows`` is the input with the softmax axis last and the other axes flattened (a view where
    it can be), ``nan_rows`` marks the rows in which the op returned NaN, ``reconstruct`` (for
    fused attention) builds the chosen rows on demand instead of ``rows``, with their
    ``reconstruct.Products``, ``loss`` (a loss call's :class:`LossRows`) is what its checks read.
    """
    import torch

    if op == "scaled_dot_product_attention":
        got = attention_rows(args, kwargs, out)
        return None if got is None else (*got, None)
    x = call_arg(args, kwargs, 0, "input")
    if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.dim() == 0:
        return None
    if op in ("cross_entropy", "nll_loss"):
        return _loss_rows(x, args, kwargs, out)
    dim = call_arg(args, kwargs, 1, "dim")
    dim = _implicit_dim(x.dim()) if dim is None else dim
    rows = x.detach().movedim(dim, -1).reshape(-1, x.shape[dim])
    if op == "softmin":
        rows = -rows  # softmin(x) is softmax(-x); the negation is exact
    nan = torch.isnan(out.detach().movedim(dim, -1)).reshape(-1, x.shape[dim]).any(dim=1)
    return rows, None, nan, dim, out.dtype, None, None


def _loss_rows(x: Any, args: tuple, kwargs: dict, out: Any) -> Any:
    """The logits (cross_entropy) or log-probabilities (nll_loss) of a loss, and its targets;
    the call's :class:`LossRows` last, read once for the loss checks too."""
    import torch

    loss = loss_rows(x, args, kwargs, out)
    rows, targets = loss.rows, loss.classes
    if targets is not None and loss.any_kept:
        if not bool(loss.keep.all()):  # ignored rows are not in the loss
            rows, targets = rows[loss.keep], targets[loss.keep]
    else:  # every one ignored (or probability targets): the rows, without targets (losscall.py)
        targets = None
    if loss.nan():
        nan = torch.isnan(torch.log_softmax(rows.to(out.dtype), dim=1)).any(dim=1)
    else:
        nan = torch.zeros(rows.shape[0], dtype=torch.bool, device=rows.device)
    return rows, targets, nan, 0 if x.dim() == 1 else 1, out.dtype, None, loss
