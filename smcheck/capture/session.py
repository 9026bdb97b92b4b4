"""``smcheck.capture()``: the context manager around a live model, and what it gives back."""

from __future__ import annotations

import dataclasses
import numbers
import os
from pathlib import Path
from typing import Any

from smcheck.capture.analysis import Captured, analyze_captured
from smcheck.capture.fastpath import FastPathWatch, governing, padded_output
from smcheck.capture.hooks import Recorder
from smcheck.capture.sites import SiteRecord
from smcheck.errors import ConfigError, SmcheckError
from smcheck.report.model import Report
from smcheck.report.phrases import plural, verb
from smcheck.report.sitemodel import Site

DEFAULT_MAX_ROWS_PER_SITE = 4096

RECORDED = (
    "torch's softmax, log_softmax, softmin, cross_entropy, nll_loss and "
    "scaled_dot_product_attention (as functions, Tensor methods or the nn modules that call them) "
    "on the thread that entered the capture"
)
"""What a capture records, for the message of a capture that recorded nothing (capture.md)."""


class NothingCapturedError(SmcheckError):
    """No softmax call that capture records was captured: a pass would have checked nothing."""


class Capture:
    """Every softmax-family call made inside ``with``, recorded per call site.

    Use :func:`capture` to make one. After the block, :meth:`analyze` gives the report (one
    source per site) and :meth:`save` writes the sample for ``smcheck analyze FILE``.
    """

    def __init__(self, max_rows_per_site: int = DEFAULT_MAX_ROWS_PER_SITE, seed: int = 0):
        # a float would be a fraction of a row (or silently truncated), a str a TypeError later
        for name, value in (("max_rows_per_site", max_rows_per_site), ("seed", seed)):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                raise ConfigError(f"{name} must be an integer, got {value!r}", options=(name,))
        if max_rows_per_site < 1:
            raise ConfigError(
                f"max_rows_per_site must be at least 1, got {max_rows_per_site!r}",
                options=("max_rows_per_site",),
            )
        self.max_rows_per_site = max_rows_per_site = int(max_rows_per_site)  # numpy's: JSON
        self.seed = seed = int(seed)
        self._recorder = Recorder(max_rows_per_site, seed)
        self._fast_paths = FastPathWatch(self._recorder.modules)
        self._handles: list[Any] = []

    def __enter__(self) -> Capture:
        from torch.nn.modules.module import (
            register_module_forward_hook,
            register_module_forward_pre_hook,
        )

        stack = self._recorder.modules
        self._handles = [
            register_module_forward_pre_hook(stack.push),
            register_module_forward_hook(stack.pop, always_call=True),
        ]
        self._recorder.mode.__enter__()
        self._fast_paths.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if not self._handles:  # already stopped (the pytest plugin stops it before judging)
            return
        self._fast_paths.__exit__(*exc)
        self._recorder.mode.__exit__(*exc)
        for h in self._handles:
            h.remove()
        self._handles = []

    @property
    def failures(self) -> list[str]:
        """Calls that ran but could not be recorded (``op: error``); the model was not affected."""
        return list(self._recorder.mode.failures)

    @property
    def sites(self) -> list[Site]:
        """Every site recorded so far, in the order of their first call."""
        return [c.site for c in self.captured()]

    def captured(self) -> list[Captured]:
        """Each site with a non-empty sample, as the analysis reads it."""
        return [c for r in self._recorder.sites.values() if (c := _captured(r, self)) is not None]

    def why_empty(self, fix: str) -> str | None:
        """None when a site has rows to analyse; else what capture records, the calls it saw
        but could not use, and the fix: the caller's ``fix``, after giving rows to the calls
        that came without (an assertion over this capture would check nothing)."""
        if self.captured():
            return None
        why = f"capture records {RECORDED}"
        n = sum(r.calls for r in self._recorder.sites.values())  # every site's sample is empty
        if n:
            why += (
                f"; {plural(n, 'call')} without rows (an empty tensor, or only fully masked "
                f"attention rows the kernel returned as zeros) {verb(n, 'is', 'are')} not counted"
            )
            # the caller's fix stays: a failed recording or another thread may be the cause
            fix = f"give {verb(n, 'that call', 'those calls')} rows to check, or {fix}"
        if self.failures:
            why += (
                f"; {plural(len(self.failures), 'call')} could not be recorded ({self.failures[0]})"
            )
        return f"{why}; {fix}"

    def analyze(self, **options: Any) -> Report:
        """The report of every site; ``options`` as :func:`smcheck.analyze` takes them.

        By default each site is judged in the format it ran in and the wider ones, with its
        captured class targets (loss sites) as the gradient targets. ``dim`` and ``softmin``
        are the site's own: given, they raise ConfigError, as an empty ``dtypes``, ``methods``
        or ``temperatures`` does. A capture that recorded no softmax
        call raises NothingCapturedError: a report of no site would pass with nothing checked.
        """
        return analyze_captured(self._nonempty("analyse"), **options)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the sample and the sites to a ``.safetensors`` file (``smcheck analyze`` reads
        it back into the same report); raises ConfigError for a name with another input
        format's suffix (``x.npy``: never readable), NothingCapturedError when nothing was
        captured (no file is written). ``"-"`` is refused, as ``--save -`` is: the file is
        binary, not for standard output."""
        from smcheck.api import check_data_name
        from smcheck.capture.store import save_captured
        from smcheck.output import STDOUT, check_output_path

        if not isinstance(path, (str, os.PathLike)):
            raise ConfigError(f"cap.save({path!r}): give a file path, e.g. 'run.safetensors'")
        check_output_path(path, "cap.save", dash=False)
        if os.fspath(path) == STDOUT:  # as smcheck capture --save -
            raise ConfigError("cap.save writes a binary .safetensors file: give it a path, not -")
        check_data_name(os.fspath(path), ".safetensors")  # as smcheck capture --save
        return save_captured(Path(path), self._nonempty("save"))

    def _nonempty(self, doing: str) -> list[Captured]:
        """The captured sites; raises NothingCapturedError when there are none."""
        why = self.why_empty("run the model inside the capture, on the thread that entered it")
        if why is not None:
            raise NothingCapturedError(
                f"no softmax call was captured, so there is nothing to {doing}: {why}"
            )
        return self.captured()


def capture(max_rows_per_site: int = DEFAULT_MAX_ROWS_PER_SITE, seed: int = 0) -> Capture:
    """Record every softmax a PyTorch model runs inside ``with``, at its call site.

    Args:
        max_rows_per_site: rows kept per site over all its calls (seeded; rows in which the op
            returned NaN are kept first). The op's own result is never changed.
        seed: the seed of the row sample.

    Returns:
        The :class:`Capture` context manager.

    >>> import torch, smcheck
    >>> with smcheck.capture() as cap:
    ...     p = torch.softmax(torch.tensor([[1.0, 2.0, 3.0]]), dim=-1)
    >>> [s.op for s in cap.sites]
    ['softmax']
    """
    return Capture(max_rows_per_site, seed)


def _captured(r: SiteRecord, cap: Capture) -> Captured | None:
    """The analysable form of one site record (None while its sample is empty)."""
    import torch

    if r.rows is None or r.rows.shape[0] == 0:
        return None
    k = r.key
    site = Site(
        op=k.op,
        module=k.module,
        file=k.file,
        line=k.line,
        dtype=r.dtype,
        autocast=r.autocast,
        dim=r.dim,
        calls=r.calls,
        rows_seen=r.rows_seen,
        rows_sampled=int(r.rows.shape[0]),
        nan_rows=r.nan_rows,
        use=r.use,
        via=k.via,
        reconstructed=r.reconstructed,
    )
    rows, source = r.rows, str(r.rows.dtype).removeprefix("torch.")
    if rows.dtype == torch.bfloat16:
        rows = rows.float()  # numpy has no bfloat16: widened exactly, as the file reader does
    extra = {
        "nan_masked": r.nan_masked,
        "nan_upstream": r.nan_upstream,
        "nan_finite": r.nan_finite,
        "masked_zero_rows": r.masked_zero_rows,
        "padded": r.padded,
        "budget": cap.max_rows_per_site,
        "seed": cap.seed,
    }
    if (fast := governing(k.module, cap._fast_paths.skipped)) is not None:
        path, skip = fast  # its rows come from the ordinary path the capture made it take
        extra["fast_path"] = {"module": path, "kind": skip.kind, "padded": padded_output(skip)}
    if r.products is not None:  # what an unfused attention would store (reconstruct.py)
        extra["products"] = dataclasses.asdict(r.products)
    if r.loss_calls is not None and (r.loss_calls.nonfinite or r.loss_calls.unmodelled):
        extra["loss_calls"] = dataclasses.asdict(r.loss_calls)
    if r.log_underflow is not None and (r.log_underflow.rows or r.log_underflow.freed):
        extra["log_underflow"] = dataclasses.asdict(r.log_underflow)
    targets = r.targets.to(torch.int64).numpy() if r.targets is not None else None
    # the name carries the format the op ran in, so every renderer shows it
    ran = r.dtype + (f" under autocast {r.autocast}" if r.autocast else "")
    via = f" via {k.via}" if k.via else ""
    name = f"{k.module or '<top>'}:{k.op} in {ran} ({k.file}:{k.line}{via})"
    return Captured(name, site, rows.numpy(), source, targets, extra)
