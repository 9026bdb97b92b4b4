"""The softmax inside ``F.scaled_dot_product_attention``, rebuilt from q, k and the mask.

The fused kernels never materialise the attention scores, so the scaled, masked scores of the
sampled query rows are recomputed in float64 (``q·k * scale``, the mask added or applied, the
causal triangle set to -inf), in chunks bounded by :data:`CHUNK_ELEMENTS`.
"""

from __future__ import annotations

import math
from typing import Any

CHUNK_ELEMENTS = 2**22
"""Elements of k gathered at once while rebuilding the scores (32 MiB in float64)."""


def _arg(args: tuple, kwargs: dict, i: int, name: str, default: Any = None) -> Any:
    return args[i] if len(args) > i else kwargs.get(name, default)


def attention_rows(args: tuple, kwargs: dict, out: Any) -> Any:
    """``(q, None, nan_rows, -1, dtype, rebuild)`` of one call (as ``hooks._rows_of``).

    One row per query position (every axis before the last two flattened with it); ``rebuild``
    gives the score rows of the chosen indices.
    """
    import torch

    q, k = _arg(args, kwargs, 0, "query"), _arg(args, kwargs, 1, "key")
    if not (isinstance(q, torch.Tensor) and isinstance(k, torch.Tensor)) or q.dim() < 2:
        return None
    mask = _arg(args, kwargs, 3, "attn_mask")
    causal = bool(_arg(args, kwargs, 5, "is_causal", False))
    scale = _arg(args, kwargs, 6, "scale")
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else float(scale)
    lead = q.shape[:-2]
    if k.dim() >= 3 and q.dim() >= 3 and k.shape[-3] != q.shape[-3] and k.shape[-3] != 1:
        k = k.repeat_interleave(q.shape[-3] // k.shape[-3], dim=-3)  # grouped-query attention
    length, keys = q.shape[-2], k.shape[-2]
    kk = k.detach().expand(*lead, keys, k.shape[-1])  # views: only the chosen rows are read
    mm = mask.detach().expand(*lead, length, keys) if mask is not None else None
    qq = q.detach()
    stored = torch.float64 if q.dtype == torch.float64 else torch.float32

    def rebuild(idx: Any) -> Any:
        step = max(1, CHUNK_ELEMENTS // max(1, keys * q.shape[-1]))
        parts = [
            _scores(qq, kk, mm, idx[start : start + step], causal, scale)
            for start in range(0, idx.numel(), step)
        ]
        if not parts:
            return torch.empty((0, keys), dtype=stored)
        return torch.cat(parts).to(stored)

    nan = torch.isnan(out.detach()).any(dim=-1).reshape(-1)
    return q, None, nan, -1, out.dtype, rebuild


def _scores(q: Any, k: Any, mask: Any, idx: Any, causal: bool, scale: float) -> Any:
    """The float64 score rows of the flat query-row indices ``idx``."""
    import torch

    length = q.shape[-2]
    g, pos = idx // length, idx % length
    lead = tuple(torch.unravel_index(g, q.shape[:-2])) if q.dim() > 2 else ()
    qs = q[(*lead, pos)].to(torch.float64)  # (n, E)
    ks = k[lead].to(torch.float64) if lead else k.to(torch.float64).expand(idx.numel(), -1, -1)
    s = torch.bmm(ks, qs.unsqueeze(-1)).squeeze(-1) * scale  # (n, S)
    if mask is not None:
        m = mask[(*lead, pos)]
        if m.dtype == torch.bool:
            s = s.masked_fill(~m, float("-inf"))
        else:
            s = s + m.to(torch.float64)
    if causal:
        cols = torch.arange(s.shape[1], device=s.device)
        s = s.masked_fill(cols[None, :] > pos[:, None], float("-inf"))
    return s
