"""What a terminal user sees: the concise default within budget, -v/-q, widths, nothing cut.

The bundled samples are checked on their golden outputs (tests/golden, recorded as a pipe with
COLUMNS=80 and compared by test_golden.py, exactly but for last-digit
float noise), so no sample is analysed twice.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

import smcheck
from smcheck.analysis.boundcheck import stall_limit
from smcheck.cli import cli
from smcheck.config import Thresholds
from smcheck.dtypes import get_format

sys.path.insert(0, str(Path(__file__).parent.parent / "golden"))
from cases import COLUMNS, OUT, SAMPLES, cases  # noqa: E402

ROOT = Path(__file__).parent.parent.parent
SAMPLE_CASES = [
    (stem, argv)
    for stem, argv in cases()
    if stem.endswith(".txt") and str(SAMPLES) in " ".join(argv) and "--temperature" not in argv
]


def stdout_of(stem: str) -> list[str]:
    """The recorded stdout of a golden case, as lines."""
    text = (OUT / stem).read_text(encoding="utf-8")
    return text.split("--- stdout\n")[1].split("--- stderr\n")[0].splitlines()


def uncut(lines: list[str], width: int) -> None:
    """No line wider than ``width``, none cut to an ellipsis, none ending in a space."""
    assert all(len(ln) <= width for ln in lines), max(lines, key=len)
    assert not [ln for ln in lines if "…" in ln]
    assert not [ln for ln in lines if ln != ln.rstrip()]


def test_every_bundled_sample_is_covered() -> None:
    files = {p.name for p in (ROOT / SAMPLES).iterdir() if p.suffix in {".npy", ".json", ".csv"}}
    files |= {p.name for p in (ROOT / SAMPLES).glob("*.pt")} | {
        p.name for p in (ROOT / SAMPLES).glob("*.safetensors")
    }
    covered = {Path(a.split(":")[0]).name for _, argv in SAMPLE_CASES for a in argv}
    assert files <= covered


@pytest.mark.parametrize(("stem", "argv"), SAMPLE_CASES, ids=[c[0] for c in SAMPLE_CASES])
def test_sample_default_report_fits_40_lines_of_80_columns_uncut(
    stem: str, argv: list[str]
) -> None:
    assert COLUMNS == "80"
    lines = stdout_of(stem)
    if "--details" in argv:
        uncut(lines, 80)
        return
    assert len(lines) <= 40, "\n".join(lines)
    uncut(lines, 80)


def test_mnist_report_gives_the_overflow_count_in_full() -> None:
    # float16 overflows in 475 of the 2500 rows (docs/higham2021.md): in 471 an exp, in 4 the
    # sum of finite exps, which the finding names apart
    text = " ".join(ln.strip() for ln in stdout_of("mnist.txt"))
    # naive is a comparison beside torch (bracketed, never counted)
    assert "[FAIL] exp-overflow, probability-nan  naive × float16: exp overflows for" in text
    assert "above 11.0902 in 471/2500 rows (472 elements); 472 probabilities NaN" in text
    assert "[FAIL] sum-overflow  naive × float16: the sum of exp overflows in 4/2500 rows" in text
    details = "\n".join(stdout_of("mnist-details.txt"))
    assert "476/475r" in details and "Error bounds" in details and "Gradients of" in details


def invoke(*args: str, columns: str | None = "80") -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False, env={"COLUMNS": columns})


@pytest.fixture(scope="module")
def masked_details_60() -> Result:
    """One -v run on the masked sample (masks, sentinels-free) 60 columns wide."""
    return invoke("analyze", str(ROOT / SAMPLES / "masked_rows.npy"), "-v", columns="60")


def test_details_are_uncut_at_60_columns(masked_details_60: Result) -> None:
    lines = masked_details_60.stdout.splitlines()
    uncut(lines, 60)
    text = masked_details_60.stdout
    # attention-like masks: the use is probs, so no gradient table
    for title in ("Faults", "Accuracy", "Error bounds", "Formats", "Findings"):
        assert title in text, title


def test_details_of_several_sources_put_a_blank_line_before_each_next_source() -> None:
    # -v ran the last findings line of one source into the next source's title
    specs = ["gen:normal:shape=2x5,seed=1", "gen:normal:shape=2x5,seed=2"]
    lines = invoke("analyze", *specs, "--dtype", "float16", "-v").stdout.splitlines()
    second = lines.index(specs[1])
    assert lines[second - 1] == "" and lines[second - 2] != ""


def test_forty_values_with_details_show_every_value() -> None:
    values = ",".join(f"{0.37 * j - 7:.2f}" for j in range(40))
    r = invoke("analyze", "--values", values, "--dtype", "float32", "--no-gradients", "-v")
    lines = r.stdout.splitlines()
    uncut(lines, 80)
    classes = [ln.split()[0] for ln in lines if ln.strip().startswith("[")]
    # a row per class for the probabilities and the log-probabilities
    assert classes == [f"[{j}]" for j in range(40)] * 2


def test_piped_output_honours_columns_else_100() -> None:
    values = ";".join(",".join(f"{j * k % 7 - 3}" for j in range(12)) for k in range(1, 4))
    narrow = invoke("analyze", "--values", values, "-v", columns="64").stdout.splitlines()
    wide = invoke("analyze", "--values", values, "-v", columns=None).stdout.splitlines()
    uncut(narrow, 64)
    uncut(wide, 100)
    assert max(map(len, wide)) > 64


def test_quiet_prints_only_the_summary_line_and_the_exit_code_speaks(tmp_path: Path) -> None:
    argv = [
        "analyze",
        "--values",
        "1,2,3,12",
        "--dtype",
        "fp16",
        "--method",
        "naive",
        "--fail-on",
        "fail",
    ]
    r = invoke(*argv, "-q")
    assert r.exit_code == 1 and r.stdout == ""
    assert len(r.stderr.splitlines()) == 1 and r.stderr.startswith("smcheck: 1 source, 1 cell")
    np.save(tmp_path / "hot.npy", np.array([[1.0, 2.0, 12.5]], dtype=np.float32))
    args = ["check", "--isolated", str(tmp_path / "hot.npy"), "--dtype", "fp16", "--method"]
    c = invoke(*args, "naive", "--no-gradients", "--fail-on", "nan", "-q")
    assert c.exit_code == 1 and c.stdout == ""
    assert c.stderr.splitlines() == [
        "smcheck check: FAILED: 1 error, 0 warnings in 1 of 1 source (1 cell checked)"
    ]


def test_details_and_quiet_exclude_each_other() -> None:
    r = invoke("analyze", "--values", "1,2", "-v", "-q")
    assert r.exit_code == 2 and "exclude each other" in r.output


def test_a_twenty_step_sweep_fits_60_lines() -> None:
    r = invoke(
        "analyze", "--values", "11.06,2.875,2.955,-2.45;3,1,0,-30", "--temperature", "0.05:2:20"
    )
    lines = r.stdout.splitlines()
    assert len(lines) <= 60, r.stdout
    uncut(lines, 80)
    assert "F/W/. at T=0.05..2 (20, log)" in r.stdout and "overflow/NaN below T" in r.stdout


@pytest.mark.slow
def test_the_llm_sample_swept_over_20_temperatures_fits_60_lines() -> None:
    r = invoke("analyze", str(ROOT / SAMPLES / "llm_logits.npy"), "--temperature", "0.05:2:20")
    lines = r.stdout.splitlines()
    assert len(lines) <= 60, r.stdout
    uncut(lines, 80)


def test_the_samples_readme_states_the_leads_and_zeros_the_tool_counts() -> None:
    # it said the winners "lead by 20, 35, 50 and 60 nats" (their logits) and that shifted's
    # -inf log p came "where small probabilities underflow": the tool counts them as exact_zero
    readme = (ROOT / SAMPLES / "README.md").read_text(encoding="utf-8")
    x = np.loadtxt(ROOT / SAMPLES / "saturated_rows.csv", delimiter=",", comments="#")
    top = np.sort(x, axis=1)[:, ::-1]
    leads = ", ".join(f"{d:.2f}" for d in top[:, 0] - top[:, 1])
    assert leads == "18.19, 31.82, 48.25, 57.22"
    assert "leading the runner-up by 18.19, 31.82, 48.25 and 57.22 nats" in readme
    doc = json.loads("\n".join(stdout_of("classifier.json")))
    (c,) = [
        c
        for c in doc["sources"][0]["cells"]
        if c["method"] == "shifted" and c["dtype"] == "float16"
    ]
    m = c["metrics"]
    assert (m["exact_zero"]["elements"], m["exact_zero"]["rows"]) == (183, 46)
    assert m["underflow"]["elements"] == 0
    assert (m["log_of_zero"]["elements"], m["log_of_zero"]["rows"]) == (183, 46)
    assert "−inf for 183 log-probabilities in 46 rows" in readme
    assert "so `exact_zero`, not `underflow`: p = 0 is their correct rounding" in readme


def test_the_samples_readme_states_what_the_strict_model_shows_of_the_llm_rows_stall() -> None:
    # it said "long rows expose accumulation error in the strict model", where no finding does:
    # no sum stalls; only the -v error-bounds table's absorbed column shows anything (0.3%)
    readme = (ROOT / SAMPLES / "README.md").read_text(encoding="utf-8")
    path = ROOT / SAMPLES / "llm_logits.npy"
    cells = smcheck.analyze(str(path), model="strict").sources[0].cells
    assert not [f.cause for c in cells for f in c.findings if f.cause == "stall"]
    absorbed = {(c.method, c.dtype): c.accumulation.max_absorbed.max for c in cells}
    worst = max(absorbed, key=lambda k: absorbed[k] or 0.0)
    assert (worst, f"{absorbed[worst]:.1%}") == (("naive", "bfloat16"), "0.3%")
    limits = [stall_limit(get_format(d), Thresholds()) for d in ("bfloat16", "float16")]
    assert [round(100 * x, 2) for x in limits] == [6.25, 2.21]
    x = np.load(path).astype(np.float64)
    p = np.exp(x - x.max(axis=1, keepdims=True))
    top = np.sort(p, axis=1)[:, -10:].sum(axis=1) / p.sum(axis=1)
    assert (top > 0.99).all()  # "a few outliers carry nearly all of each row's mass"
    assert (
        "at most 0.3% of a row's mass is absorbed (naive bfloat16, the `absorbed` column of "
        "`smcheck analyze sample_inputs/llm_logits.npy --model strict -v`), where a stall finding "
        "needs 6.3% in bfloat16 (2.2% in float16)"
    ) in readme
    assert "long rows expose accumulation error" not in readme


def test_a_single_row_names_no_row_of_its_max_logsumexp() -> None:
    # a 1-D input has one row, whose index is empty: "(row [])" read as a glitch in -v's input
    # table and the HTML facts; two rows name theirs
    for fmt in ("text", "html"):
        one = str(ROOT / SAMPLES / "minus999.json")  # [-999, 1, 2, 5, 6]: 1-D
        one = invoke("analyze", one, "--dtype", "float32", "-v", "--format", fmt)
        two = invoke("analyze", "--values", "1,2;3,4", "--dtype", "float32", "-v", "--format", fmt)
        assert "(row [])" not in one.stdout and "6.33141" in one.stdout, fmt
        assert "4.31326 (row [1])" in two.stdout, fmt


def test_formats_table_gives_the_casts_dlogp_once_and_says_it_is_at_t_1(tmp_path: Path) -> None:
    # every T's row read the T = 1 figure of the cast: 5.17e-02 at T=11.3137 too, where the
    # cast moves log p of softmax(x/T) by 18x less (torch, in float64 from the two inputs)
    import torch

    x = np.random.default_rng(0).normal(0, 4, (16, 64)).astype(np.float16)
    xs, xb = torch.from_numpy(x).double(), torch.from_numpy(x).bfloat16().double()
    dlogp = [
        float((torch.log_softmax(xs / t, -1) - torch.log_softmax(xb / t, -1)).abs().max())
        for t in (1, 11.3137)
    ]
    assert dlogp[1] < dlogp[0] / 10
    np.save(tmp_path / "raw_f16.npy", x)
    args = ["analyze", str(tmp_path / "raw_f16.npy"), "--dtype", "bf16", "-v"]
    r = CliRunner().invoke(cli, [*args, "--temperature", "1,11.3137"], catch_exceptions=False)
    table = r.stdout.split("Formats (1/2)")[1].split("Formats (2/2)")[0]
    rows = [line.split() for line in table.splitlines() if line.startswith("  bfloat16")]
    assert rows[0][1] == "1" and float(rows[0][-1]) == pytest.approx(dlogp[0], rel=0.01)
    assert rows[1][1] == "11.3137" and len(rows[1]) == len(rows[0]) - 1  # no figure
    caption = " ".join(r.stdout.split("Formats (2/2)")[1].split("Faults")[0].split())
    assert "rows: each format at each T; the rooms are the worst row's;" in caption
    assert "input Δlog p (at T = 1, given once per format), cast ±inf:" in caption
