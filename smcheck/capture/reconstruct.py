"""The softmax inside ``F.scaled_dot_product_attention``, rebuilt from q, k and the mask.

The fused kernels never materialise the attention scores, so the scaled, masked scores of the
sampled query rows are recomputed (``q·k * scale``, the mask added or applied, the causal
triangle set to -inf) in float32 as the kernels accumulate them (float64 for float64 inputs),
in chunks of at most :data:`CHUNK_ELEMENTS` scores. The largest |q·k| of those rows, before the
scale and the mask, is kept too: an unfused attention materialises that product. When a good
share of a (batch, head)'s rows is sampled, its whole score matrix is built in one batched
product (few large ops); otherwise only the sampled rows, each against its own keys.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from smcheck.capture.sites import call_arg

CHUNK_ELEMENTS = 2**22
"""Score elements built at once (16 MiB in float32)."""


@dataclass(frozen=True)
class Products:
    """The largest finite |q·k| of rebuilt rows, before the scale (as ``(q @ k.T) * scale``
    stores it) and after it (as ``(q * scale) @ k.T`` does); neither holds the mask."""

    qk: float = 0.0
    scaled: float = 0.0

    def merge(self, other: Products | None) -> Products:
        if other is None:
            return self
        return Products(max(self.qk, other.qk), max(self.scaled, other.scaled))


class Attention:
    """One call's q, k (heads repeated for grouped-query attention), mask and scale, as views."""

    def __init__(self, q: Any, k: Any, mask: Any, causal: bool, scale: float | None) -> None:
        import torch

        lead = q.shape[:-2]
        if k.dim() >= 3 and q.dim() >= 3 and k.shape[-3] not in (q.shape[-3], 1):
            k = k.repeat_interleave(q.shape[-3] // k.shape[-3], dim=-3)
        self.length, self.keys = q.shape[-2], k.shape[-2]
        self.lead = lead
        self.q = q.detach()
        self.k = k.detach().expand(*lead, self.keys, k.shape[-1])  # views: only chosen parts read
        self.mask = None if mask is None else mask.detach().expand(*lead, self.length, self.keys)
        self.causal = causal
        self.scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else float(scale)
        self.dtype = torch.float64 if q.dtype == torch.float64 else torch.float32

    def rows(self, idx: Any) -> tuple[Any, Products]:
        """The score rows of the sorted flat query-row indices ``idx``, and their products."""
        import torch

        top = torch.zeros((), dtype=self.dtype, device=idx.device)
        groups, inverse = torch.unique(idx // self.length, return_inverse=True)
        pos = idx % self.length
        whole = self.length * self.keys
        if whole <= CHUNK_ELEMENTS and idx.numel() * 8 >= groups.numel() * self.length:
            out = torch.empty((idx.numel(), self.keys), dtype=self.dtype, device=idx.device)
            step = CHUNK_ELEMENTS // whole
            for a in range(0, groups.numel(), step):
                qk, s = self._scores(self._lead(groups[a : a + step]), None)  # (g, L, S)
                sel = (inverse >= a) & (inverse < a + step)
                out[sel] = s[inverse[sel] - a, pos[sel]]
                top = torch.maximum(top, _largest(qk[inverse[sel] - a, pos[sel]]))
            return out, self._products(top)
        step = max(1, CHUNK_ELEMENTS // max(1, self.keys * self.q.shape[-1]))
        parts = []
        for a in range(0, idx.numel(), step):
            qk, s = self._scores(self._lead(idx[a : a + step] // self.length), pos[a : a + step])
            parts.append(s)
            top = torch.maximum(top, _largest(qk))
        rows = torch.cat(parts) if parts else torch.empty((0, self.keys), dtype=self.dtype)
        return rows, self._products(top)

    def _products(self, top: Any) -> Products:
        qk = float(top)
        return Products(qk, qk * abs(self.scale))

    def _lead(self, groups: Any) -> tuple:
        import torch

        return tuple(torch.unravel_index(groups, self.lead)) if self.lead else ()

    def _scores(self, lead: tuple, pos: Any) -> tuple[Any, Any]:
        """q·k and the scores of whole groups ``(g, L, S)`` (pos None) or of one row per group
        ``(n, S)``."""
        import torch

        ft = self.dtype  # the kernels accumulate q·k in float32
        if pos is None:
            q, k = self.q[lead].to(ft), self.k[lead].to(ft)
            qk = torch.matmul(q, k.transpose(-1, -2))
            m = self.mask[lead] if self.mask is not None else None
            rows = torch.arange(self.length, device=qk.device)[:, None]
        else:
            q, k = self.q[(*lead, pos)].to(ft), self.k[lead].to(ft)
            qk = torch.bmm(k, q.unsqueeze(-1)).squeeze(-1)
            m = self.mask[(*lead, pos)] if self.mask is not None else None
            rows = pos[:, None]
        s = qk * self.scale
        if m is not None:
            s = s.masked_fill(~m, float("-inf")) if m.dtype == torch.bool else s + m.to(ft)
        if self.causal:
            cols = torch.arange(self.keys, device=s.device)[None, :]
            s = s.masked_fill(cols > rows, float("-inf"))
        return qk, s


def _largest(qk: Any) -> Any:
    """The largest finite |q·k| (0 for none): what an unfused attention stores."""
    import torch

    if not qk.numel():
        return torch.zeros((), dtype=qk.dtype, device=qk.device)
    return qk.abs().nan_to_num(0.0, posinf=0.0).amax()


def attention_rows(args: tuple, kwargs: dict, out: Any) -> Any:
    """``(q, None, nan_rows, -1, dtype, rebuild)`` of one call (as ``hooks._rows_of``).

    One row per query position (every axis before the last two flattened with it); ``rebuild``
    gives the score rows of the chosen indices and their :class:`Products`.
    """
    import torch

    q, k = call_arg(args, kwargs, 0, "query"), call_arg(args, kwargs, 1, "key")
    if not (isinstance(q, torch.Tensor) and isinstance(k, torch.Tensor)) or q.dim() < 2:
        return None
    att = Attention(
        q,
        k,
        call_arg(args, kwargs, 3, "attn_mask"),
        bool(call_arg(args, kwargs, 5, "is_causal", False)),
        call_arg(args, kwargs, 6, "scale"),
    )
    nan = torch.isnan(out.detach()).any(dim=-1).reshape(-1)
    return q, None, nan, -1, out.dtype, att.rows
