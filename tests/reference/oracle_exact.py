"""Test oracle: the float64 reference as it was, in torch ops (smcheck.kernels.reference.softmax64
replaced it; tests/kernels/test_reference.py compares the two)."""

from __future__ import annotations

import numpy as np
import torch


def fast_softmax64(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Max-shifted log-domain softmax of float64 rows in torch: (log p, p, logsumexp)."""
    xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64))
    m = xt.amax(-1, keepdim=True)
    m = torch.where(torch.isfinite(m), m, 0.0)
    d = xt - m
    log_s = torch.log(torch.exp(d).sum(-1, keepdim=True))
    logp = d - log_s
    return logp.numpy(), torch.exp(logp).numpy(), (m + log_s)[:, 0].numpy()
