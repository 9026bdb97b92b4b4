"""An SDPA site judged in the formats its fused kernel's softmax runs in, and its row notes."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F

import smcheck
from smcheck.capture.analysis import analyze_captured


def large_float16_scores() -> smcheck.Capture:
    """A float16 SDPA whose scores reach 2.9e5: the kernel keeps them in float32 and is exact."""
    torch.manual_seed(0)
    q, k = ((torch.randn(1, 1, 4, 64) * 400).half() for _ in range(2))
    v = torch.randn(1, 1, 4, 64).half()
    with smcheck.capture() as cap:
        out = F.scaled_dot_product_attention(q, k, v)
    scores = (q.float() @ k.float().transpose(-1, -2)) / 8
    exact = torch.softmax(scores.double(), -1) @ v.double()
    assert scores.abs().max() > 65520 and torch.equal(out.double(), exact)  # the kernel was fine
    return cap


def test_a_float16_attention_with_scores_past_float16s_range_is_no_cast_overflow() -> None:
    # it read "FAIL cast-overflow torch x float16: 3 logits at or above 65520 become +inf": a
    # cast to float16 of scores the fused kernel never stores in float16
    (attn,) = large_float16_scores().analyze().sources
    assert attn.verdict.value == "OK"
    assert sorted({c.dtype for c in attn.cells}) == ["float32", "float64"]
    assert not any(f.cause == "cast-overflow" for c in attn.cells for f in c.findings)
    (note,) = [n for n in attn.notes if n.startswith("no float16 cells")]
    assert note.endswith(
        "materialised in float16 as (q @ k.T) * scale, q @ k.T up to 2.35e+06 would overflow it "
        "(max 65504); scaled first, (q * scale) @ k.T, up to 2.94e+05 would overflow it"
    )
    smcheck.assert_stable(large_float16_scores())  # raised: 1 violation


def test_an_attention_whose_q_k_products_pass_float16_before_the_scale_is_said_to_overflow() -> (
    None
):
    # scores up to 1.2e4 after the scale 1/8 fit float16, but q @ k.T (9.4e4) is stored before
    # the scale: the note compared the scaled scores with 65504 and said nothing
    torch.manual_seed(0)
    q, k = ((torch.randn(1, 1, 4, 64) * 80).half() for _ in range(2))
    with smcheck.capture() as cap:
        F.scaled_dot_product_attention(q, k, torch.randn(1, 1, 4, 64).half())
    (attn,) = cap.analyze().sources
    (note,) = [n for n in attn.notes if n.startswith("no float16 cells")]
    top = float((q.float() @ k.float().transpose(-1, -2)).abs().max())
    assert 65504 < top and top / 8 < 65504
    assert note.endswith(
        "q @ k.T up to 9.41e+04 would overflow it (max 65504); scaled first, (q * scale) @ k.T, "
        "up to 1.18e+04 would fit"
    )


def test_an_attention_sites_products_are_the_largest_over_its_calls() -> None:
    torch.manual_seed(0)
    q, k = ((torch.randn(1, 1, 4, 64) * 80).half() for _ in range(2))
    small = torch.randn(1, 1, 4, 64).half()
    with smcheck.capture() as cap:
        for a, b, scale in ((q, k, None), (small, small, 1.0)):  # one site, two scales
            F.scaled_dot_product_attention(a, b, small, scale=scale)
    (attn,) = cap.analyze().sources
    (note,) = [n for n in attn.notes if n.startswith("no float16 cells")]
    assert "q @ k.T up to 9.41e+04 would" in note and "(q * scale) @ k.T, up to 1.18e+04" in note


@pytest.mark.parametrize("fill", [-3e4, torch.finfo(torch.float16).min])
def test_an_attention_with_a_large_finite_additive_mask_and_small_products_has_no_overflow_note(
    fill: float,
) -> None:
    # the rebuilt rows hold q·k * scale + mask: the mask over the scale read as q @ k.T,
    # "q @ k.T up to 2.4e+05 ... would overflow it" where |q·k| was about 20
    torch.manual_seed(0)
    q, k, v = (torch.randn(1, 1, 4, 64).half() for _ in range(3))
    mask = torch.zeros(1, 1, 4, 4).half()
    mask[..., 0] = fill
    with smcheck.capture() as cap:
        F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    (attn,) = cap.analyze().sources
    (note,) = [n for n in attn.notes if n.startswith("no float16 cells")]
    assert "overflow" not in note and "materialised" not in note


def test_a_saved_attention_site_without_its_products_says_they_are_not_recorded() -> None:
    # a capture saved before q @ k.T was recorded: its rows hold the mask, so no figure is guessed
    (c,) = large_float16_scores().captured()
    old = dataclasses.replace(c, extra={k: v for k, v in c.extra.items() if k != "products"})
    (attn,) = analyze_captured([old]).sources
    (note,) = [n for n in attn.notes if n.startswith("no float16 cells")]
    assert note.endswith("; this capture does not record q @ k.T (an unfused attention's product)")


def test_float16_cells_asked_of_an_attention_site_are_comparisons_never_the_verdict() -> None:
    (attn,) = large_float16_scores().analyze(dtypes=["float16", "float32"]).sources
    half = [c for c in attn.cells if c.dtype == "float16"]
    assert half and all(c.hypothetical for c in half)
    assert any(c.verdict.value == "FAIL" for c in half)  # shown as they are ...
    assert attn.verdict.value == "OK"  # ... never counted
    assert any(
        n.startswith("its float16 cells are comparisons, never the verdict") for n in attn.notes
    )


def masked_first_row(budget: int = 4096) -> smcheck.Capture:
    """20 query rows, the 4 of query position 0 fully masked (returned as zeros)."""
    g = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(2, 2, 5, 8, generator=g) for _ in range(3))
    mask = torch.ones(5, 5, dtype=torch.bool).tril()
    mask[0] = False
    with smcheck.capture(max_rows_per_site=budget) as cap:
        F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    return cap


def test_attention_rows_left_out_as_masked_zeros_are_no_sample() -> None:
    # it read "a sample: 16 of 20 rows over 1 call (max_rows_per_site=4096, ...)": every row fit
    (attn,) = masked_first_row().analyze().sources
    assert (attn.site.rows_seen, attn.site.rows_sampled) == (20, 16)
    assert not any(n.startswith("a sample") for n in attn.notes)
    left = [n for n in attn.notes if "left out" in n]
    assert left == ["4 of 20 rows left out: fully masked, the fused kernel returned them as zeros"]


def test_attention_rows_past_the_budget_are_a_sample_beside_the_masked_zeros() -> None:
    (attn,) = masked_first_row(budget=10).analyze().sources
    (sample,) = [n for n in attn.notes if n.startswith("a sample")]
    assert sample.startswith("a sample: 8 of 20 rows over 1 call (max_rows_per_site=10,")
    # of the 10 rows drawn (seed 0), 2 were masked zeros: counted as such, not as 2 of 20
    masked = [n for n in attn.notes if n.endswith("as zeros")]
    assert masked == ["2 fully masked rows left out: the fused kernel returned them as zeros"]


def test_a_plain_sites_narrower_format_asked_for_stays_judged() -> None:
    # only a fused kernel's skipped cast is a comparison: a float32 softmax asked about float16
    # is judged there, as asked
    with smcheck.capture() as cap:
        torch.softmax(torch.tensor([[1.0, 2.0, 7e4]]), dim=-1)
    (site,) = cap.analyze(dtypes=["float16"], methods=["torch"]).sources
    (cell,) = site.cells
    assert not cell.hypothetical and cell.verdict.value == "FAIL"  # 7e4 becomes +inf in float16
    assert site.verdict.value == "FAIL"
