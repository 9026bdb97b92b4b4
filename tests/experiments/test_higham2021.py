"""The reproduction of Blanchard, Higham & Higham (2021), Section 5: figures and docs in sync."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from subprocess import PIPE

import pytest

from smcheck.experiments.higham2021 import PUBLISHED, run, to_markdown
from tests.conftest import ROOT, sample_input

DOC = ROOT / "docs" / "higham2021.md"


@pytest.fixture(scope="module")
def results():  # type: ignore[no-untyped-def]
    return run(sample_input("mnist_cnn_presoftmax_2500x10.npy"))


def test_overflow_counts_equal_the_published_ones(results) -> None:  # type: ignore[no-untyped-def]
    for r in results:
        assert r.basic_lse_overflow_rows == PUBLISHED[r.dtype]["basic_lse_overflow_rows"]
        assert r.shifted_lse_overflow_rows == PUBLISHED[r.dtype]["shifted_lse_overflow_rows"]
    f16, bf16 = results
    assert (f16.rows, f16.rows_compared) == (2500, 2025)  # 475 rows overflow in fp16
    assert (bf16.rows_compared, bf16.ftz) == (2500, True)


def test_errors_stay_within_the_papers_leading_bounds_and_smchecks(results) -> None:  # type: ignore[no-untyped-def]
    for r in results:
        assert len(r.quantities) == 6
        for q in r.quantities:
            assert q.rows_above == 0 and q.max_ratio < 1, (r.dtype, q)
            assert q.smcheck_violations in (None, 0)
        # the division-free forms lose more than the division forms (the paper's conclusion)
        by = {q.theorem: q for q in r.quantities}
        assert by["Thm 4.4"].max_error_u > by["Thm 4.3"].max_error_u


def test_docs_page_shows_the_commands_output(results) -> None:  # type: ignore[no-untyped-def]
    text = DOC.read_text(encoding="utf-8")
    begin, end = "<!-- higham2021:begin -->\n", "<!-- higham2021:end -->"
    shown = text[text.index(begin) + len(begin) : text.index(end)]
    assert shown == to_markdown(results), (
        "regenerate: python -m smcheck.experiments.higham2021 --format markdown"
    )


def test_command_line_json_and_bad_data() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "smcheck.experiments.higham2021"]
    # both at once: the bad-data run's start-up overlaps the experiment
    runs = [
        subprocess.Popen([*cmd, *args], stdout=PIPE, stderr=PIPE, text=True, env=env, cwd=ROOT)
        for args in (["--format", "json"], ["--data", "missing.npy"])
    ]
    (ok_out, ok_err), (_, bad_err) = (r.communicate(timeout=600) for r in runs)
    ok, bad = runs
    assert ok.returncode == 0, ok_err
    data = json.loads(ok_out)
    assert [d["basic_lse_overflow_rows"] for d in data] == [475, 0]
    assert bad.returncode == 2 and "missing.npy" in bad_err and "Traceback" not in bad_err


def test_the_plain_format_is_text_and_table_is_its_alias(monkeypatch: pytest.MonkeyPatch) -> None:
    # it took only "table", where analyze, check and thresholds call their plain format text
    from click.testing import CliRunner

    from smcheck.experiments import higham2021

    monkeypatch.setattr(higham2021, "run", lambda _data: [])  # the format, not the experiment
    outs = [CliRunner().invoke(higham2021.main, ["--format", f]) for f in ("text", "table")]
    assert [r.exit_code for r in outs] == [0, 0]
    assert outs[0].output == outs[1].output
