"""Small models with random weights for the capture tests (CPU, no downloads)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

MASK = -1e9
"""The padding mask value many models write by hand; float16 cannot hold it (it is -inf there)."""


class EncoderClassifier(nn.Module):
    """nn.TransformerEncoder, attention pooling masked with -1e9, a linear head."""

    def __init__(self, vocab: int = 50, width: int = 16, classes: int = 5) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, width)
        layer = nn.TransformerEncoderLayer(width, 2, 32, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.pool = AttentionPool(width)
        self.head = nn.Linear(width, classes)

    def forward(self, tokens: torch.Tensor, pad: torch.Tensor) -> torch.Tensor:
        h = self.encoder(self.embed(tokens), src_key_padding_mask=pad)
        return self.head(self.pool(h, pad))


class AttentionPool(nn.Module):
    """One score per token, -1e9 added at padding, softmax over the tokens."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.score = nn.Linear(width, 1)

    def forward(self, h: torch.Tensor, pad: torch.Tensor) -> torch.Tensor:
        mask = pad.to(h.dtype) * MASK  # -1e9 at padding; -inf in float16
        w = F.softmax(self.score(h).squeeze(-1) + mask, dim=-1)
        return (w.unsqueeze(-1) * h).sum(dim=1)


def encoder_batch(fully_padded: bool = True) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Tokens, padding mask (True = padding) and labels; the last sequence all padding."""
    g = torch.Generator().manual_seed(1)
    tokens = torch.randint(0, 50, (4, 6), generator=g)
    pad = torch.zeros(4, 6, dtype=torch.bool)
    pad[0, 4:] = True
    if fully_padded:
        pad[3, :] = True
    return tokens, pad, torch.tensor([0, 1, 2, 3])


class CausalDecoder(nn.Module):
    """A one-block causal language model on F.scaled_dot_product_attention."""

    def __init__(self, vocab: int = 40, width: int = 16, heads: int = 2) -> None:
        super().__init__()
        self.heads = heads
        self.embed = nn.Embedding(vocab, width)
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, vocab)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        b, n = tokens.shape
        q, k, v = self.qkv(self.embed(tokens)).view(b, n, 3, self.heads, -1).unbind(2)
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.out(a.transpose(1, 2).reshape(b, n, -1))


class AdaptiveLM(nn.Module):
    """A linear layer into nn.AdaptiveLogSoftmaxWithLoss (head and two clusters)."""

    def __init__(self, width: int = 16, classes: int = 60) -> None:
        super().__init__()
        self.proj = nn.Linear(width, width)
        self.adaptive = nn.AdaptiveLogSoftmaxWithLoss(width, classes, cutoffs=[10, 30])

    def forward(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.adaptive(self.proj(x), target).loss


def sample(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """A sampler: divide by the temperature in the logits' own format, softmax, draw."""
    p = torch.softmax(logits / temperature, dim=-1)
    return torch.multinomial(p.float(), 1, generator=torch.Generator().manual_seed(0))
