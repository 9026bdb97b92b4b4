"""smcheck.capture() on small live models: sites, real dtypes, verdicts, sampling, fidelity."""

from __future__ import annotations

import contextlib

import pytest
import torch
import torch.nn.functional as F

import smcheck
from smcheck.capture.session import Capture
from smcheck.errors import ConfigError
from smcheck.findings import remedytexts
from smcheck.report.html.page import report_html
from smcheck.report.markdown import md, report_markdown
from smcheck.report.model import Report
from smcheck.report.renderers import plain_text
from smcheck.report.terminal.concise import build_summary
from smcheck.report.terminal.tables import build_tables
from tests.capture.models import AdaptiveLM, CausalDecoder, EncoderClassifier, encoder_batch, sample


def run_encoder(dtype: torch.dtype = torch.float32, autocast: bool = False):  # type: ignore[no-untyped-def]
    torch.manual_seed(0)
    model = EncoderClassifier().to(dtype)
    tokens, pad, labels = encoder_batch()
    ctx = torch.autocast("cpu", dtype=torch.bfloat16) if autocast else contextlib.nullcontext()
    with smcheck.capture() as cap, ctx:
        loss = F.cross_entropy(model(tokens, pad), labels)
    return cap, loss


def by_op(report, op: str):  # type: ignore[no-untyped-def]
    return [s for s in report.sources if s.site.op == op]


@pytest.fixture(scope="module")
def encoder32():  # type: ignore[no-untyped-def]
    cap, loss = run_encoder()
    return cap, loss, cap.analyze()


def test_encoder_in_float32_names_every_site_and_warns_only_of_the_padded_pool_row(
    encoder32,
) -> None:  # type: ignore[no-untyped-def]
    cap, loss, report = encoder32
    mods = [(s.site.module, s.site.op) for s in report.sources]
    assert mods == [
        ("encoder.layers.0.self_attn", "scaled_dot_product_attention"),
        ("encoder.layers.1.self_attn", "scaled_dot_product_attention"),
        ("pool", "softmax"),
        ("", "cross_entropy"),
    ]
    assert torch.isfinite(loss)
    # the fully padded sequence's pool scores are -1e9 + score throughout: no NaN, but its
    # weight spread over the padding, so the pooled vector averages padded tokens
    assert [s.verdict.value for s in report.sources] == ["OK", "OK", "WARN", "OK"]
    pool = by_op(report, "softmax")[0]
    (found,) = pool.input.findings
    assert found.kind == "fully_masked" and found.message.startswith(
        "1 fully masked row (every entry a mask value; row [3]): the softmax gives no NaN there "
        "but spreads its weight uniformly over its masked keys (1/6 each)"
    )
    assert pool.site.file.endswith("models.py") and pool.site.dtype == "float32"
    assert [c.dtype for c in pool.cells if c.method == "torch"] == ["float32", "float64"]


def test_attention_sites_say_they_are_reconstructed_and_leave_out_zeroed_rows(encoder32) -> None:  # type: ignore[no-untyped-def]
    _, _, report = encoder32
    attn = by_op(report, "scaled_dot_product_attention")[0]
    assert attn.site.reconstructed and attn.site.use == attn.use == "probs"
    assert attn.use_reason == "the captured op: scaled_dot_product_attention"  # no --use given
    assert any(n.startswith("reconstructed:") for n in attn.notes)
    # the fully padded sequence: 2 heads x 6 positions the kernel returned as zeros
    assert any(n.startswith("12 of 48 rows left out: fully masked") for n in attn.notes)


def test_markdown_carries_every_capture_note_the_details_print(encoder32) -> None:  # type: ignore[no-untyped-def]
    # the terminal's -v listed the notes ("reconstructed: ...", the rows left out); Markdown none
    _, _, report = encoder32
    attn = by_op(report, "scaled_dot_product_attention")[0]
    one = Report([attn], smcheck.__version__)
    details = " ".join(plain_text(build_tables(one), width=2000).split())
    markdown = report_markdown(one)
    assert len(attn.notes) == 2
    for n in attn.notes:
        assert n in details
        assert f"- note: {md(n)}\n" in markdown


def test_a_float16_attention_site_says_its_rows_are_float32_scores_rebuilt_from_q_and_k() -> None:
    # the header read "<top>:scaled_dot_product_attention in float16 (...)  [4, 4] float32": the
    # format the kernel ran in, then float32 rows with nothing saying they are rebuilt scores
    torch.manual_seed(0)
    q, k, v = (torch.randn(1, 1, 4, 6, dtype=torch.float16) for _ in range(3))
    with smcheck.capture() as cap:
        F.scaled_dot_product_attention(q, k, v)
        torch.softmax(q, -1)  # not fused: its rows are the input's own, in its own format
    attn, plain = cap.analyze(dtypes=["float16"], methods=["torch"]).sources
    assert attn.name.startswith("<top>:scaled_dot_product_attention in float16 (")
    assert (attn.dtype, plain.dtype) == ("float32", "float16")
    rebuilt = "float32, scores rebuilt from q and k"
    one = Report([attn], smcheck.__version__)
    pages = {
        "text": plain_text(build_summary(one), width=200),
        "details": plain_text(build_tables(one), width=200),
        "markdown": report_markdown(one),
        "html": report_html(one),
    }
    assert f"[4, 4] {rebuilt}, dim -1" in pages["text"]  # 4 queries x 4 keys
    assert f"(source dtype {rebuilt}, softmax over dim -1)" in pages["details"]
    assert f"source dtype {rebuilt}, softmax over dim -1" in pages["markdown"]
    assert f"<td>source dtype</td><td>{rebuilt}</td>" in pages["html"]
    other = plain_text(build_summary(Report([plain], smcheck.__version__)), width=200)
    assert "[4, 6] float16, dim -1" in other and "rebuilt" not in other


def test_loss_site_takes_the_labels_as_gradient_targets(encoder32) -> None:  # type: ignore[no-untyped-def]
    _, _, report = encoder32
    ce = by_op(report, "cross_entropy")[0]
    assert ce.site.use == "loss"
    assert all(c.gradient is not None for c in ce.cells)
    pool = by_op(report, "softmax")[0]
    assert all(c.gradient is None for c in pool.cells)  # not a loss: no cross-entropy question


def test_captured_targets_no_loss_reads_raise_no_unused_note() -> None:
    # the labels are the capture's, not the user's: without gradients they are simply not taken
    with smcheck.capture() as cap:
        torch.nn.functional.cross_entropy(torch.randn(4, 5), torch.tensor([0, 1, 2, 3]))
    (ce,) = cap.analyze(gradients=False, dtypes=["float32"]).sources
    assert ce.notes == [] and all(c.gradient is None for c in ce.cells)


def test_float16_padding_mask_nan_fails_at_the_named_site_with_the_remedy() -> None:
    cap, loss = run_encoder(torch.float16)
    assert torch.isnan(loss)
    report = cap.analyze()
    pool = by_op(report, "softmax")[0]
    assert pool.site.module == "pool" and pool.site.dtype == "float16"
    assert pool.site.nan_rows == 1 and pool.verdict.value == "FAIL"
    found = pool.input.findings[0]
    assert found.kind == "observed_nan" and found.severity == "FAIL"
    assert "fully masked" in found.message and "torch.finfo(torch.float16).min" in found.message
    assert [c.dtype for c in pool.cells if c.method == "torch"] == ["float16", "float32", "float64"]


def test_bfloat16_autocast_records_the_dtype_each_op_ran_in() -> None:
    cap, _ = run_encoder(autocast=True)
    sites = {s.op: s for s in cap.sites}
    assert sites["scaled_dot_product_attention"].dtype == "bfloat16"
    assert sites["cross_entropy"].dtype == "float32"  # autocast's float32 list on CPU
    assert all(s.autocast == "cpu:bfloat16" for s in cap.sites)


def test_capture_returns_exactly_what_the_ops_returned() -> None:
    torch.manual_seed(0)
    model = EncoderClassifier()
    tokens, pad, _ = encoder_batch(fully_padded=False)
    plain = model(tokens, pad)
    with smcheck.capture(max_rows_per_site=3):
        captured = model(tokens, pad)
    assert torch.equal(plain, captured)


def test_causal_decoder_attention_scores_reconstruct_the_kernel() -> None:
    torch.manual_seed(0)
    q, k, v = torch.randn(2, 4, 5, 8), torch.randn(2, 2, 7, 8), torch.randn(2, 2, 7, 8)
    mask = torch.randn(5, 7)
    with smcheck.capture() as cap:
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=0.3, enable_gqa=True)
        CausalDecoder()(torch.randint(0, 40, (2, 6)))
    rows = torch.from_numpy(cap.captured()[0].rows).double()  # one call: rows in order
    vv = v.repeat_interleave(2, dim=1).double()
    rebuilt = (torch.softmax(rows, -1).view(2, 4, 5, 7) @ vv).float()
    torch.testing.assert_close(rebuilt, out)
    causal = cap.captured()[1]
    assert causal.site.module == "" and causal.site.reconstructed
    upper = torch.from_numpy(causal.rows).view(2, 2, 6, 6)
    assert torch.isneginf(upper[..., 0, 1:]).all() and torch.isfinite(upper[..., 5, :]).all()


def test_adaptive_log_softmax_head_and_clusters_are_sites() -> None:
    torch.manual_seed(0)
    with smcheck.capture() as cap:
        AdaptiveLM()(torch.randn(32, 16), torch.randint(0, 60, (32,)))
    sites = [s for s in cap.sites if s.module == "adaptive"]
    assert {s.op for s in sites} == {"log_softmax"} and len(sites) == 2  # head, clusters
    assert all(s.via and s.via.startswith("torch/nn/modules/adaptive.py:") for s in sites)
    assert all(s.use == "logprobs" for s in sites)


def test_float16_sampler_with_a_small_temperature_fails() -> None:
    logits = torch.linspace(-900, 900, 64, dtype=torch.float16).view(2, 32)
    with smcheck.capture() as cap, pytest.raises(RuntimeError, match="nan"):
        sample(logits, 0.01)  # 900 / 0.01 is +inf in float16; multinomial refuses the NaN
    site = cap.analyze().sources[0]
    assert site.site.op == "softmax" and site.site.dtype == "float16"
    assert site.verdict.value == "FAIL" and site.site.nan_rows == 1
    assert "already NaN or +inf" in site.input.findings[0].message


def test_rows_are_sampled_per_site_seeded_with_nan_rows_first() -> None:
    x = torch.randn(100, 6)
    x[37] = float("nan")
    caps = []
    for _ in range(2):
        with smcheck.capture(max_rows_per_site=5, seed=3) as cap:
            torch.softmax(x, dim=-1)
        caps.append(cap.captured()[0])
    a, b = caps
    assert a.site.rows_seen == 100 and a.site.rows_sampled == 5
    assert (a.rows.tobytes(), a.site) == (b.rows.tobytes(), b.site)
    assert torch.isnan(torch.from_numpy(a.rows)).any(dim=1).sum() == 1  # row 37 kept
    assert any(n.startswith("a sample: 5 of 100 rows") for n in cap.analyze().sources[0].notes)


def test_one_line_in_two_formats_is_two_sites() -> None:
    with smcheck.capture() as cap:
        for dtype in (torch.float32, torch.float16):
            torch.softmax(torch.randn(2, 3).to(dtype), dim=-1)
    assert [s.dtype for s in cap.sites] == ["float32", "float16"]


def test_a_use_given_overrides_the_sites_and_says_so() -> None:
    with smcheck.capture() as cap:
        torch.softmax(torch.tensor([[1.0, 2.0, 3.0]]), dim=-1)
    (src,) = cap.analyze(use="loss").sources
    assert (src.site.use, src.use, src.use_reason) == ("probs", "loss", "given")


def test_dim_and_softmin_are_refused_not_ignored_for_captured_sites() -> None:
    # cap.analyze(dim=0) analysed each site along its own call's dim without a word
    with smcheck.capture() as cap:
        torch.softmax(torch.tensor([[1.0, 2.0], [3.0, 4.0]]), dim=0)
    with pytest.raises(ConfigError, match=r"^option 'dim' does not apply to captured sites: "):
        cap.analyze(dim=0)
    with pytest.raises(ConfigError, match=r"\(a softmin call as softmin\)"):
        smcheck.assert_stable(cap, softmin=True)
    assert [s.site.dim for s in cap.analyze().sources] == [0]


def test_a_captured_softmin_is_reported_in_the_words_of_softmin() -> None:
    # its rows are stored as -x and were analysed as a softmax of logits: "exp overflows for
    # logits above 11.09" where the logit was -20
    with smcheck.capture() as cap:
        F.softmin(torch.tensor([[-1.0, -2.0, -20.0, 5.0]], dtype=torch.float16), dim=-1)
    (src,) = cap.analyze(methods=["naive"]).sources
    [cell] = [c for c in src.cells if c.dtype == "float16"]
    [overflow] = [f for f in cell.findings if f.cause == "exp-overflow"]
    assert overflow.message.startswith("exp overflows for -x above 11.0902 (logits below -11.0902)")
    assert src.input.max == 20.0  # -x, as the header says: "softmin: analysing -x"


def _softmax_and_softmin_masked_with_777() -> Capture:
    """A capture of one softmax site masked with -777 and one softmin site masked with +777."""
    with smcheck.capture() as cap:
        torch.softmax(torch.tensor([[1.0, 2.0, -777.0, 3.0]]), dim=-1)
        F.softmin(torch.tensor([[1.0, 2.0, 777.0, 3.0]]), dim=-1)
    return cap


def _user_sentinels(report: Report) -> list[list[float]]:
    """Per source, the values of the sentinels taken from mask_value (as the softmax sees them)."""
    return [[s.value for s in r.input.sentinels if s.detected == "user"] for r in report.sources]


def test_a_negative_mask_value_masks_the_softmax_input_at_softmax_and_softmin_sites() -> None:
    cap = _softmax_and_softmin_masked_with_777()
    report = cap.analyze(mask_value=-777.0, dtypes=["float32"], methods=["shifted"])
    assert [r.softmin for r in report.sources] == [False, True]
    # the softmin site got +777, its logits' mask: -777 in the -x its softmax runs on
    assert _user_sentinels(report) == [[-777.0], [-777.0]]


def test_a_positive_mask_value_masks_softmin_logits_and_is_left_out_for_softmax() -> None:
    # it was negated for the softmin site and refused: "mask value -777.0 is not a finite
    # positive number"; a softmax site has no positive mask, so it is left out there
    cap = _softmax_and_softmin_masked_with_777()
    report = cap.analyze(mask_value=777.0, dtypes=["float32"], methods=["shifted"])
    assert _user_sentinels(report) == [[], [-777.0]]


def test_a_positive_mask_value_is_refused_where_no_site_is_a_softmin() -> None:
    # every site left it out, so it looked honoured
    with smcheck.capture() as cap:
        torch.softmax(torch.tensor([[1.0, 2.0, -777.0, 3.0]]), dim=-1)
    with pytest.raises(ConfigError, match=r"^mask value 777.0 is positive, .* but the capture "):
        cap.analyze(mask_value=777.0)


def test_a_mask_value_of_zero_or_inf_is_refused_naming_both_signs() -> None:
    cap = _softmax_and_softmin_masked_with_777()
    for mv in (0.0, float("inf"), -float("inf")):
        with pytest.raises(ConfigError, match=r"not a finite nonzero number; .* negative for a"):
            cap.analyze(mask_value=mv)


def test_analyze_of_a_capture_reports_progress_as_smcheck_analyze_does() -> None:
    # cap.analyze(progress=...) raised TypeError: the option went into the config
    with smcheck.capture() as cap:
        torch.softmax(torch.tensor([[1.0, 2.0, 3.0]]), dim=-1)
    calls: list[tuple] = []
    cap.analyze(progress=lambda *a: calls.append(a))
    assert calls and calls[-1][1] == calls[-1][2]  # the last call says the work is done


def test_a_call_that_cannot_be_recorded_still_returns_its_result(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from smcheck.capture import hooks

    def broken(*_):  # type: ignore[no-untyped-def]
        raise RuntimeError("unreadable")

    monkeypatch.setattr(hooks, "_rows_of", broken)
    x = torch.randn(2, 3)
    with smcheck.capture() as cap:
        out = torch.softmax(x, dim=-1)
    assert torch.equal(out, torch.softmax(x, dim=-1))
    assert cap.failures == ["softmax: RuntimeError: unreadable"] and cap.sites == []


def test_the_analysis_of_sites_calls_the_api_as_it_is_when_it_runs(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # a wrapper installed after smcheck.capture was imported must be the one that runs: a name
    # bound at import had kept a test's raising stand-in for later tests in the same worker
    import smcheck.api
    import smcheck.capture.analysis  # noqa: F401  (imported before the wrapper is installed)

    real, calls = smcheck.api.run_sources, []

    def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(len(args[0]))
        return real(*args, **kwargs)

    monkeypatch.setattr(smcheck.api, "run_sources", wrapper)
    with smcheck.capture() as cap:
        torch.softmax(torch.tensor([[1.0, 2.0, 3.0]]), dim=-1)
    report = cap.analyze()
    assert calls == [1] and len(report.sources) == 1


def test_attention_without_a_mask_is_recorded_under_bfloat16_autocast() -> None:
    # the scores were rebuilt under the user's autocast, came back bfloat16 and failed to store
    q = torch.randn(1, 2, 4, 8)
    with smcheck.capture() as cap, torch.autocast("cpu", dtype=torch.bfloat16):
        F.scaled_dot_product_attention(q, q, q)
        F.scaled_dot_product_attention(q, q, q, is_causal=True)
    assert cap.failures == []
    assert [(s.op, s.dtype) for s in cap.sites] == [
        ("scaled_dot_product_attention", "bfloat16")
    ] * 2


def test_a_site_that_returned_nan_from_finite_logits_is_told_the_wider_format() -> None:
    # it raised AttributeError: the names it used (remedies.WIDER_FORMAT, WIDER) were gone
    from types import SimpleNamespace

    from smcheck.capture.analysis import _observed_nan

    site = SimpleNamespace(nan_rows=2, rows_seen=8, op="softmax", module="", file="m.py", line=3)
    found = _observed_nan(SimpleNamespace(**vars(site), dtype="float16"), {}, "float16")  # type: ignore[arg-type]
    assert found is not None and found.message.endswith(
        "returned NaN in 2 rows of 8 as the model ran in float16: 2 with finite logits -- compute "
        "it in float32"
    )
    found = _observed_nan(SimpleNamespace(**vars(site), dtype="float64"), {}, "float64")  # type: ignore[arg-type]
    assert found is not None and found.message.endswith("-- scale the logits into a narrower range")


def test_a_site_whose_nan_rows_have_two_causes_names_both_counts_and_both_fixes() -> None:
    # it said "1 of them fully masked -- mask with ..." (if masked: ... elif upstream: ...), so
    # the two rows that were NaN at the input went unexplained and without their fix
    with smcheck.capture() as cap:
        for i in range(3):
            x = torch.randn(10, 6, generator=torch.Generator().manual_seed(i))
            if i == 1:
                x[2] = float("nan")
                x[5, 0] = float("nan")
            if i == 2:
                x[7] = float("-inf")
            torch.softmax(x, -1)
    found = cap.analyze().sources[0].input.findings[0]
    assert found.kind == "observed_nan"
    assert "returned NaN in 3 rows of 30 as the model ran in float32: 1 fully masked (every " in (
        found.message
    )
    assert "float32), 2 already NaN or +inf at its input -- fully masked rows: mask with " in (
        found.message
    )
    assert found.message.endswith("; the input's NaN: " + remedytexts.fix_upstream("float32"))


def test_a_softmin_site_that_returned_nan_on_masked_rows_is_told_of_its_own_masks() -> None:
    # it said "every logit -inf" and advised finfo.min, which is no mask of softmin
    with smcheck.capture() as cap:
        F.softmin(torch.tensor([[float("inf")] * 3, [1.0, 2.0, 3.0]]), dim=-1)
        F.softmin(torch.tensor([[-float("inf"), 1.0, 2.0]]), dim=-1)
    masked, upstream = (s.input.findings[0].message for s in cap.analyze().sources)
    assert "1 row of 2 as the model ran in float32: 1 fully masked (every logit +inf in" in masked
    assert "mask with torch.finfo(torch.float32).max" in masked
    assert "float32: 1 already NaN or -inf at its input --" in upstream


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"max_rows_per_site": "10"}, "max_rows_per_site must be an integer, got '10'"),
        ({"max_rows_per_site": 1.5}, "max_rows_per_site must be an integer, got 1.5"),
        ({"max_rows_per_site": True}, "max_rows_per_site must be an integer, got True"),
        ({"max_rows_per_site": 0}, "max_rows_per_site must be at least 1, got 0"),
        ({"seed": 0.5}, "seed must be an integer, got 0.5"),
    ],
)
def test_capture_refuses_a_row_budget_or_seed_that_is_no_integer(
    options: dict[str, object], error: str
) -> None:
    # "10" raised a TypeError from a comparison, and 1.5 was taken as a budget of rows
    with pytest.raises(ConfigError) as e:
        smcheck.capture(**options)  # type: ignore[arg-type]
    assert str(e.value) == error


def test_capture_takes_a_numpy_integer_budget_and_saves_it_as_json(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import numpy as np

    with smcheck.capture(max_rows_per_site=np.int64(2), seed=np.int32(1)) as cap:
        torch.softmax(torch.ones(4, 3), dim=-1)
    cap.save(tmp_path / "run.safetensors")  # the budget is in the JSON metadata
    assert cap.sites[0].rows_sampled == 2


def test_a_meta_tensor_mask_value_is_one_refusal() -> None:
    # Capture.analyze(mask_value=torch.tensor(-1e4, device="meta")) raised RuntimeError
    # "Tensor.item() cannot be called on meta tensors" where analyze refuses it in one sentence
    cap = _softmax_and_softmin_masked_with_777()
    with pytest.raises(ConfigError, match="is not a finite nonzero number"):
        cap.analyze(mask_value=torch.tensor(-1e4, device="meta"))
