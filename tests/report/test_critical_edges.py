"""The critical temperatures' edges as every report states them: a safe end rounded up that is
not where failure starts."""

from __future__ import annotations

import json

from tests.report.test_temperature_report import VLLM, run


def grid_row(stdout: str, method: str) -> list[str]:
    """The concise verdict grid's row of ``method``: method, dtype, strip, overflow/NaN below T."""
    (row,) = [ln.split(None, 3) for ln in stdout.splitlines() if ln.startswith(f"{method} ")]
    return row


def test_a_safe_end_rounded_up_is_not_said_to_be_where_failure_starts() -> None:
    # naive float16 on the vLLM row fails below 11.0625 / 11.08984375 = 0.997535 (the hand
    # derivation in tests/analysis/test_temperature.py); the safe end rounded up is 0.998, but
    # "below T=0.998 exp(x/T) overflows" was false at T = 0.9976, whose cell is OK
    args = ("analyze", "--values", VLLM, "--dtype", "fp16")
    r = run(*args, "--critical", "--format", "json")
    advice = json.loads(r.stdout)["sources"][0]["temperature"]["critical"][0]["advice"]
    assert advice.startswith(
        "naive float16: below T≈0.998 exp(x/T) overflows float16 -- use max-shifted softmax or "
        "torch.softmax, or clamp T to >= 0.998; below T≈0.000169 they fail too"
    )
    assert grid_row(run(*args, "--critical").stdout, "naive") == ["naive", "float16", ".", "≈0.998"]
    cell = run(*args, "--temperature", "0.9976", "--method", "naive", "--use", "probs")
    assert grid_row(cell.stdout, "naive") == ["naive", "OK"]  # no overflow there: safe
