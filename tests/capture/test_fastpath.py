"""torch's attention fast paths, which capture turns off: what they return for a fully padded
sequence, and the line the report gives where a module would have taken one."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import smcheck
from smcheck.capture.fastpath import _probe
from smcheck.capture.store import analyze_saved
from tests.capture.models import EncoderClassifier, encoder_batch

X = torch.randn(2, 3, 8, generator=torch.Generator().manual_seed(0))
PAD = torch.tensor([[False, False, True], [True, True, True]])
"""Key padding of two sequences of 3: the second one fully padded."""


def _layer() -> nn.TransformerEncoderLayer:
    torch.manual_seed(0)
    return nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True)


def test_torch_fast_path_returns_nan_for_a_fully_padded_sequence_the_ordinary_path_does_not() -> (
    None
):
    # torch 2.13 CPU, float32: in eval under no_grad (the fast path, torch's native kernels)
    # the fully padded sequence is NaN in every output of a TransformerEncoderLayer and of a
    # MultiheadAttention (need_weights=False); in training (the ordinary path, which capture
    # makes every call take) the layer's output is finite, as scaled_dot_product_attention
    # returns zeros for a fully masked row. A TransformerEncoder's own fast path (nested
    # tensors) drops the padded sequence and returns it as zeros.
    layer = _layer()
    mha = nn.MultiheadAttention(8, 2, batch_first=True)
    encoder = nn.TransformerEncoder(_layer(), 2)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the nested-tensor prototype warns
        fast = layer.eval()(X, src_key_padding_mask=PAD)
        fast_mha = mha.eval()(X, X, X, key_padding_mask=PAD, need_weights=False)[0]
        nested = encoder.eval()(X, src_key_padding_mask=PAD)
        ordinary = layer.train()(X, src_key_padding_mask=PAD)
    for out in (fast, fast_mha):
        assert torch.isnan(out[1]).all() and torch.isfinite(out[0]).all()
    assert torch.isfinite(ordinary).all()
    assert (nested[1] == 0).all() and torch.isfinite(nested[0]).all()
    q = torch.randn(1, 1, 3, 4)
    masked = torch.zeros(1, 1, 3, 3, dtype=torch.bool)  # no key allowed: fully masked rows
    assert (F.scaled_dot_product_attention(q, q, q, attn_mask=masked) == 0).all()


def _captured_eval(model: nn.Module, grad: bool = False):  # type: ignore[no-untyped-def]
    tokens, pad, _ = encoder_batch()  # the last sequence fully padded
    with torch.set_grad_enabled(grad), smcheck.capture() as cap:
        model(tokens, pad)
    return cap


def _fast_path_findings(report):  # type: ignore[no-untyped-def]
    return [
        [(f.severity, f.message) for f in s.input.findings if f.kind == "fast_path_skipped"]
        for s in report.sources
    ]


def test_a_layer_that_would_take_the_fast_path_warns_the_report_is_of_its_ordinary_path() -> None:
    # under capture the layers ran their ordinary path and returned the fully padded sequence's
    # 12 attention rows (2 heads x 6 positions) as zeros: the report was clean, while the same
    # model in eval under no_grad, uncaptured, returns NaN for that sequence
    torch.manual_seed(0)
    model = EncoderClassifier().eval()
    tokens, pad, _ = encoder_batch()
    with torch.no_grad():
        assert torch.isnan(model(tokens, pad)[3]).all()  # uncaptured: the fast path
    cap = _captured_eval(model)
    report = cap.analyze(dtypes=["float32"])
    said = (
        "the TransformerEncoderLayer at encoder.layers.{} would take torch's fast path as run "
        "here (eval mode, no gradients), which capture turns off, so this report speaks for its "
        "ordinary path: that returned 12 fully masked rows as zeros, the fast path returns NaN "
        "for a fully padded sequence (key_padding_mask all True; run on this torch) -- drop "
        "fully padded sequences, or call torch.backends.mha.set_fastpath_enabled(False)"
    )
    assert _fast_path_findings(report) == [
        [("WARN", said.format(0))],
        [("WARN", said.format(1))],
        [],  # the pooling softmax and the rest are not inside such a module
    ]
    assert report.verdict.value == "WARN"


@pytest.mark.parametrize("bias", [True, False])
def test_multihead_attention_warns_only_where_its_fast_path_would_run(bias: bool) -> None:
    # torch 2.13 calls the native kernel only when in_proj_bias is set: bias=False passes every
    # check up to has_torch_function yet runs the ordinary path uncaptured (zeros, no NaN), and
    # the capture warned of a fast path that was never there
    torch.manual_seed(0)
    mha = nn.MultiheadAttention(8, 2, batch_first=True, bias=bias).eval()
    with torch.no_grad():
        uncaptured = mha(X, X, X, key_padding_mask=PAD, need_weights=False)[0]
        with smcheck.capture() as cap:
            mha(X, X, X, key_padding_mask=PAD, need_weights=False)
    assert bool(torch.isnan(uncaptured[1]).all()) is bias
    [found] = _fast_path_findings(cap.analyze(dtypes=["float32"]))
    assert [severity for severity, _ in found] == (["WARN"] if bias else [])


def test_no_fast_path_line_where_the_module_would_not_take_it() -> None:
    torch.manual_seed(0)
    model = EncoderClassifier()
    for cap in (_captured_eval(model.train()), _captured_eval(model.eval(), grad=True)):
        report = cap.analyze(dtypes=["float32"])
        assert _fast_path_findings(report) == [[], [], []]


def test_a_nested_tensor_encoder_is_said_to_return_zeros_for_a_fully_padded_sequence() -> None:
    # its own fast path drops the padded sequence: no NaN there, so a note (-v), not a warning
    encoder = nn.TransformerEncoder(_layer(), 1).eval()
    with torch.no_grad(), smcheck.capture() as cap, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        encoder(X, src_key_padding_mask=PAD)
    [[(severity, message)]] = _fast_path_findings(cap.analyze(dtypes=["float32"]))
    assert severity == "INFO"
    assert message.startswith("the TransformerEncoder would take torch's fast path as run here")
    assert message.endswith(
        "; the fast path returns zeros for a fully padded sequence (key_padding_mask all True; "
        "run on this torch)"
    )


def test_a_saved_capture_keeps_the_fast_path_line(tmp_path: Path) -> None:
    layer = _layer().eval()
    with torch.no_grad(), smcheck.capture() as cap:
        layer(X, src_key_padding_mask=PAD)
    path = str(cap.save(tmp_path / "run.safetensors"))
    live = _fast_path_findings(cap.analyze(dtypes=["float32"]))
    assert live == _fast_path_findings(analyze_saved(path, dtypes=["float32"]))
    assert live[0][0][0] == "WARN" and "TransformerEncoderLayer would take" in live[0][0][1]


def test_the_fast_path_watch_is_undone_and_its_probe_keeps_the_random_state() -> None:
    original = torch.overrides.has_torch_function
    layer = _layer().eval()
    with torch.no_grad(), smcheck.capture() as cap:
        layer(X, src_key_padding_mask=PAD)
    assert torch.overrides.has_torch_function is original
    _probe.cache_clear()  # the probe builds a module: its weights must not draw from the seed
    state = torch.random.get_rng_state()
    cap.analyze(dtypes=["float32"])
    assert torch.equal(torch.random.get_rng_state(), state)


def test_the_fast_path_warning_follows_a_failing_input_finding() -> None:
    # it was put first, and a policy reads the first input finding as the most severe: a WARN
    # over an upstream FAIL
    import numpy as np

    from smcheck.capture.analysis import Captured, analyze_captured
    from smcheck.report.sitemodel import Site

    site = Site(
        "scaled_dot_product_attention", "layers.0.self_attn", "m.py", 1, "float32", None, -1,
        calls=1, rows_seen=2, rows_sampled=2, nan_rows=0, use="probs", reconstructed=True,
    )  # fmt: skip
    rows = np.array([[1.0, np.nan, 2.0], [0.0, 1.0, 2.0]], dtype=np.float32)
    fast = {"module": "layers.0", "kind": "TransformerEncoderLayer", "padded": "NaN"}
    extra = {"masked_zero_rows": 6, "fast_path": fast}
    report = analyze_captured([Captured("s", site, rows, "float32", None, extra)])
    found = [(f.kind, f.severity) for f in report.sources[0].input.findings]
    assert found == [("upstream", "FAIL"), ("fast_path_skipped", "WARN")]
