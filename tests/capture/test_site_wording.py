"""What a captured site's messages call things: its class targets, the API's fail_on, and a
remedy that fits the format the layer before it ran in."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import smcheck

TO_FLOAT32 = "run it in float32"


def test_a_loss_sites_targets_are_named_the_captured_class_targets() -> None:
    # they showed as "targets: <array>", as if the user had passed an array
    x = torch.randn(4, 5)
    x[0, 2] = float("-inf")  # row 0's target is a masked class
    with smcheck.capture() as cap:
        F.cross_entropy(x, torch.tensor([2, 1, 0, 3]))
    (site,) = cap.analyze().sources
    assert {c.gradient.target for c in site.cells if c.gradient} == {"the captured class targets"}
    (masked,) = [f for f in site.input.findings if f.kind == "masked_target"]
    assert "(targets: the captured class targets; row [0])" in masked.message
    assert "<array>" not in masked.message


def test_assert_stable_names_its_fail_on_argument_not_the_command_lines_flag() -> None:
    with pytest.raises(AssertionError) as e:
        smcheck.assert_stable([[1.0, 2.0, 30.0]], dtypes=["float16"], methods=["naive"])
    assert str(e.value).startswith("smcheck: 1 violation of fail_on='fail':")
    assert "--fail-on" not in str(e.value)


def nan_input_capture(dtype: torch.dtype) -> smcheck.Capture:
    """A cross-entropy (float32) or softmax (float16) whose row 2 is NaN at its input."""
    x = torch.randn(5, 6)
    x[2, 0] = float("nan")
    with smcheck.capture() as cap:
        if dtype == torch.float32:
            F.cross_entropy(x, torch.arange(5))
        else:
            torch.softmax(x.to(dtype), dim=-1)
    return cap


@pytest.mark.parametrize(("dtype", "advised"), [(torch.float32, False), (torch.float16, True)])
def test_nan_at_a_sites_input_advises_float32_only_to_a_narrower_layer(
    dtype: torch.dtype, advised: bool
) -> None:
    # a float32 cross_entropy was told "fix the layer that produced the logits (run it in
    # float32, ...)": it already ran in float32
    cap = nan_input_capture(dtype)
    (site,) = cap.analyze().sources
    messages = [f.message for f in site.input.findings if f.kind in ("observed_nan", "upstream")]
    assert len(messages) == 2
    assert all("fix the layer that produced the logits (" in m for m in messages)
    assert all((TO_FLOAT32 in m) == advised for m in messages)
    with pytest.raises(AssertionError) as e:  # check's input condition says it as well
        smcheck.assert_stable(cap, fail_on="input")
    assert "fix the layer that produced the logits" in str(e.value)
    assert (TO_FLOAT32 in str(e.value)) == advised
