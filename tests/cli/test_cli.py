"""The command line end to end with CliRunner: every command and every exit code."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import smcheck.api
from smcheck.cli import cli
from smcheck.errors import ConfigError, ExitCode
from smcheck.report.phrases import SUMMARY_BREAKS, wrap_line
from tests.conftest import ROOT, sample_input


def run(*args: str, input: str | bytes | None = None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


def test_analyze_details_show_verdicts_and_values() -> None:
    r = run("analyze", "--values", "-999,1,2,5,6", "--details")
    assert r.exit_code == ExitCode.OK, r.output
    out = r.stdout
    for word in (
        "Verdicts",
        "naive",
        "logdomain",
        "FAIL",
        "OK",
        "Probabilities",
        "Log-probabilities",
        "-1005.3",
        "log_softmax",
    ):
        assert word in out, word
    assert "(comparisons, not counted: 8 FAIL)" in r.stderr  # naive and shifted, all formats


def test_analyze_json_is_strict_and_follows_the_contract() -> None:
    r = run("analyze", "--values", "1,2,3,12", "--dtype", "fp16", "--format", "json")
    assert r.exit_code == ExitCode.OK, r.output
    doc = json.loads(r.stdout, parse_constant=lambda c: pytest.fail(f"bare {c} in JSON"))
    assert doc["schema_version"] == 1
    src = doc["sources"][0]
    assert src["shape"] == [1, 4] and src["dtype"] == "float64" and src["rows"] == 1
    naive = next(c for c in src["cells"] if c["method"] == "naive")
    assert naive["dtype"] == "float16" and naive["verdict"] == "FAIL"
    assert naive["metrics"]["overflow"] == {"elements": 1, "rows": 1, "worst_row": [0]}
    assert naive["metrics"]["exp_overflow"] == naive["metrics"]["overflow"]  # 12 > 11.09
    assert naive["metrics"]["sum_overflow"]["elements"] == 0
    assert naive["probabilities"][0][3] == "nan"
    # naive is a hypothetical comparison beside torch (the default methods): not counted
    assert naive["hypothetical"] is True and doc["summary"]["verdict"] == "OK"
    parts = ["temperature_overflow", "exp_overflow", "sum_overflow"]
    assert list(naive["metrics"])[:6] == ["overflow", *parts, "cast_overflow", "nan"]


@pytest.mark.parametrize(("fail_on", "code"), [("never", 0), ("warn", 1), ("fail", 1)])
def test_fail_on_sets_exit_code(fail_on: str, code: int) -> None:
    argv = ["analyze", "--values", "1,2,3,12", "--dtype", "float16", "--fail-on", fail_on]
    r = run(*argv, "--method", "naive,torch")
    assert r.exit_code == code, r.output
    assert run(*argv).exit_code == 0  # naive only as a comparison beside torch: never counted


def test_fail_on_fail_passes_clean_input() -> None:
    r = run("analyze", "--values", "0.1,0.2", "--dtype", "float32", "--fail-on", "fail")
    assert r.exit_code == ExitCode.OK, r.output


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["analyze", "--values", "1,2", "--dtype", "float12"], "unknown dtype"),
        (["analyze", "--values", "1,2", "--method", "fast"], "unknown method"),
        (["analyze", "--values", "1,2", "--dim", "3"], "out of range"),
        (["analyze", "--values", "1,2", "--temperature", "0"], "temperature"),
        (["analyze", "--values", "1,2", "--temperature", "1:0:5"], "two positive finite ends"),
        (["analyze", "--values", "1,2", "--temperature", "1:2:1"], "and N >= 2"),
        (["analyze", "missing.npy"], "missing.npy"),
        (["analyze"], "SOURCE"),
    ],
)
def test_usage_and_input_errors_exit_2_with_one_line(args: list[str], needle: str) -> None:
    r = run(*args)
    assert r.exit_code == ExitCode.ERROR, r.output
    assert needle in r.stderr
    assert "Traceback" not in r.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["thresholds", "--dtype", "fp8"], "--dtype: unknown dtype 'fp8'; use one of float16"),
        (["analyze", "--values", "1,2", "--dtype", "fp8"], "--dtype: unknown dtype 'fp8'; use"),
        (["check", "--isolated", "x.npy", "--dtype", "fp8"], "--dtype: unknown dtype 'fp8'"),
        (["analyze", "--values", "1,2", "--method", "fast"], "--method: unknown method 'fast'"),
        (["analyze", "--values", "1,2", "--temperature", "0"], "--temperature: temperature 0.0 "),
        (["analyze", "--values", "1,2", "--temperature", "hot"], "--temperature: bad temperature"),
    ],
)
def test_a_bad_dtype_method_or_temperature_names_its_option(args: list[str], message: str) -> None:
    # "Error: unknown dtype 'fp8'; use one of ..." named no option
    r = run(*args)
    assert r.exit_code == ExitCode.ERROR, r.output
    assert r.stderr.startswith(f"Error: {message}")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--fail-on", "nan", "--warn-on", "lost-mass"],
            "--warn-on: the condition 'lost-mass' needs a limit, e.g. 'lost-mass>1e-6'\n",
        ),
        (["--fail-on", "bogus"], "--fail-on: unknown condition 'bogus'; use fail, warn, "),
        (
            ["--fail-on", "never,nan"],
            "--fail-on: 'never' means no condition, so it stands alone; drop it or the others\n",
        ),
        (
            ["--mask-value", "1e400"],
            "--mask-value: mask value '1e400' rounds to inf in float64; use e.g. -1e4 (1e4 with "
            "softmin)\n",
        ),
        (
            ["--mask-value=-1e-400"],
            "--mask-value: mask value '-1e-400' rounds to -0.0 in float64; use e.g. -1e4 (1e4 "
            "with softmin)\n",
        ),
        (
            ["--mask-value", "5"],
            "--mask-value: mask value 5.0 is not a finite negative number; give the value the "
            "input masks with, e.g. -1e4 (-inf is a mask already)\n",
        ),
    ],
)
def test_a_bad_condition_or_mask_value_names_its_option(args: list[str], message: str) -> None:
    # "Error: the condition 'lost-mass' needs a limit" named neither --fail-on nor --warn-on;
    # --mask-value 1e400 read "mask value inf is not a finite negative number"
    r = run("check", "--isolated", "x.npy", *args)
    assert r.exit_code == ExitCode.ERROR, r.output
    assert r.stderr.startswith(f"Error: {message}"), r.stderr


def test_a_bad_dtype_method_or_temperature_from_the_api_names_its_argument() -> None:
    for kw, message in (
        ({"dtypes": ["fp8"]}, "dtypes=['fp8']: unknown dtype 'fp8'; use one of float16"),
        ({"methods": "fast"}, "methods='fast': unknown method 'fast'"),
        ({"temperatures": [0]}, "temperatures=[0]: temperature 0 is not a positive finite"),
    ):
        with pytest.raises(ConfigError) as e:
            smcheck.analyze([[1.0, 2.0]], **kw)
        assert str(e.value).startswith(message)


@pytest.mark.parametrize(
    ("typed", "rounded"), [("1e-400", "0.0"), ("1e400", "inf"), ("-1e400", "-inf")]
)
def test_a_temperature_that_rounds_away_is_named_as_typed(typed: str, rounded: str) -> None:
    # it read "temperature 0.0 is not a positive finite number": a value the user never typed
    r = run("analyze", "--values", "1,2", f"--temperature={typed}")
    assert r.exit_code == ExitCode.ERROR, r.output
    assert r.stderr == (
        f"Error: --temperature: temperature '{typed}' rounds to {rounded} in float64; "
        "use e.g. 0.7\n"
    )


def test_output_file_is_written_only_on_success(tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "r.json"
    r = run("analyze", "--values", "1,2,3", "--format", "json", "-o", str(out))
    assert r.exit_code == 0 and json.loads(out.read_text())["schema_version"] == 1
    assert r.stdout == ""
    bad = tmp_path / "bad.json"
    r = run("analyze", "nope.npy", "--format", "json", "-o", str(bad))
    assert r.exit_code == ExitCode.ERROR and not bad.exists()


def test_thresholds_shows_computed_limits() -> None:
    r = run("thresholds", "--dtype", "fp16,bf16")
    assert r.exit_code == 0, r.output
    assert "11.0902" in r.stdout and "2048" in r.stdout and "256" in r.stdout
    doc = json.loads(run("thresholds", "--format", "json").stdout)
    assert [d["dtype"] for d in doc] == ["float16", "bfloat16", "float32", "float64"]
    assert doc[0]["underflow_gap_nats"] == pytest.approx(17.3287, abs=1e-4)
    # one format named twice (an alias) is one column, as analyze's --dtype takes it
    doc = json.loads(run("thresholds", "--dtype", "fp16,half", "--format", "json").stdout)
    assert [d["dtype"] for d in doc] == ["float16"]


def test_thresholds_names_its_plain_format_text_and_takes_table_as_text() -> None:
    # thresholds offered only table|json and refused text, the plain format of analyze and check
    plain = run("thresholds", "--dtype", "fp16").stdout
    for fmt in ("text", "table"):
        r = run("thresholds", "--dtype", "fp16", "--format", fmt)
        assert r.exit_code == ExitCode.OK, r.output
        assert r.stdout == plain
    assert "[text|json]" in run("thresholds", "--help").stdout


def test_thresholds_fit_the_width_split_never_cut() -> None:
    r = CliRunner().invoke(cli, ["thresholds"], env={"COLUMNS": "80"})
    lines = r.stdout.splitlines()
    assert max(len(ln) for ln in lines) <= 80 and all(ln == ln.rstrip() for ln in lines)
    assert "(2/2)" in r.stdout and "9007199254740992" in r.stdout  # float64's column, whole


def test_generate_writes_a_deterministic_npy(tmp_path) -> None:  # type: ignore[no-untyped-def]
    a, b = tmp_path / "a.npy", tmp_path / "b.npy"
    for p in (a, b):
        r = run("generate", "llm", "--shape", "2x100", "--seed", "3", "-o", str(p))
        assert r.exit_code == 0, r.output
    assert a.read_bytes() == b.read_bytes()
    r = run("analyze", str(a), "--dtype", "float32", "--format", "json")
    assert json.loads(r.stdout)["sources"][0]["shape"] == [2, 100]


def test_generate_to_stdout_pipes_into_analyze(tmp_path) -> None:  # type: ignore[no-untyped-def]
    r = run("generate", "spike", "--shape", "2x7", "--seed", "4", "-o", "-")
    assert r.exit_code == 0 and r.stderr == "wrote standard output: float32 [2, 7]\n", r.output
    np.save(tmp_path / "ref.npy", smcheck.api.generate("spike", shape="2x7", seed=4))
    assert r.stdout_bytes == (tmp_path / "ref.npy").read_bytes()
    r = run("analyze", "-", "--dtype", "float32", "--format", "json", input=r.stdout_bytes)
    assert json.loads(r.stdout)["sources"][0]["shape"] == [2, 7]


def test_generate_help_lists_each_generator_with_its_parameters() -> None:
    # the help listed the names only: what gen:llm or `generate masked` takes (--param K=V) was
    # nowhere but the source; now every generator of the registry, its shape and parameters
    from smcheck.sources.generators import GENERATORS

    text = " ".join(run("generate", "--help").stdout.split())
    assert "Generators (default shape; parameters and their defaults):" in text
    for g in GENERATORS.values():
        params = " ".join(f"{k}={v!r}" for k, v in g.defaults.items())
        shape = "x".join(map(str, g.default_shape))
        assert f" {g.name} {g.description} ({shape}; {params}" in text, g.name
    assert "fully_masked=0" in text and "outliers=8" in text  # ints, as --param must give them


def test_generate_refuses_a_name_that_is_not_npy(tmp_path) -> None:  # type: ignore[no-untyped-def]
    r = run("generate", "spike", "-o", str(tmp_path / "x.csv"))
    assert r.exit_code == 2 and "name it *.npy" in r.stderr
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("shape", ["4x10,loc=100", "4x10x", ""])
def test_generate_refuses_a_shape_with_anything_but_dimensions(tmp_path: Path, shape: str) -> None:
    # --shape "4x10,loc=100" went into a gen: spec, whose comma split off ",loc=100" unseen
    r = run("generate", "llm", "--shape", shape, "-o", str(tmp_path / "x.npy"))
    assert r.exit_code == ExitCode.ERROR, r.output
    assert r.stderr == f"Error: shape must look like 4x32000, not {shape!r}\n"
    assert not list(tmp_path.iterdir())


def test_generate_options_win_over_the_same_param(tmp_path) -> None:  # type: ignore[no-untyped-def]
    gen = smcheck.api.generate
    assert np.array_equal(gen("normal", seed=5, params=["seed=3"]), gen("normal", seed=5))
    assert np.array_equal(gen("normal", params=["seed=3"]), gen("normal", seed=3))
    assert gen("constant", shape="2x3", params=["shape=4x5"]).shape == (2, 3)


def test_the_summary_line_wraps_whole_parts_to_a_narrow_terminal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    argv = ["analyze", "--values", "1,2,12;-inf,-inf,-inf", "--dtype", "fp16"]
    monkeypatch.delenv("COLUMNS", raising=False)
    one = run(*argv).stderr.strip()
    assert one.count("\n") == 0 and "; input: 1 WARN (comparisons, not counted:" in one
    monkeypatch.setattr("smcheck.cli.messages._stderr_width", lambda: 45)
    lines = run(*argv).stderr.splitlines()
    # the first part (50 columns) breaks after a comma, never inside "0 WARN"
    assert lines == [
        "smcheck: 1 source, 1 cell: 0 FAIL, 0 WARN,",
        "  1 OK; input: 1 WARN",
        "  (comparisons, not counted: 1 FAIL)",
    ]
    assert " ".join(s.strip() for s in lines) == one


def test_the_summary_line_piped_at_columns_80_wraps_and_else_stays_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # piped at COLUMNS=80 it was one line of 110 columns, which an 80-column pager or log view
    # cuts mid-word; COLUMNS is the width the piped report itself is written at
    specs = [f"gen:normal:shape=2x5,seed={k}" for k in range(12)]
    argv = ["analyze", *specs, "--values", "1,2,12;-inf,-inf,-inf", "--dtype", "fp16"]
    monkeypatch.delenv("COLUMNS", raising=False)
    one = run(*argv).stderr.strip()
    assert one.count("\n") == 0 and len(one) > 80
    monkeypatch.setenv("COLUMNS", "80")
    lines = run(*argv).stderr.splitlines()
    assert len(lines) > 1 and all(len(ln) <= 80 for ln in lines)
    assert " ".join(s.strip() for s in lines) == one


def test_a_summary_part_wider_than_the_line_breaks_after_a_comma_never_in_a_word() -> None:
    line = "smcheck: 12 sources, 1440 cells: 120 FAIL, 240 WARN, 1000 OK, 80 not judged; x"
    lines = wrap_line(line, 40, SUMMARY_BREAKS).splitlines()
    assert lines == [
        "smcheck: 12 sources, 1440 cells:",
        "  120 FAIL, 240 WARN, 1000 OK,",
        "  80 not judged; x",
    ]


def test_stdin_named_twice_is_a_usage_error() -> None:
    for argv in (["analyze", "-", "-"], ["analyze", "-", "--targets", "-"]):
        r = run(*argv, input="1,2,3\n")
        assert r.exit_code == ExitCode.ERROR and "standard input (-) can be read once" in r.stderr
    r = run("check", "--isolated", "-", "--targets", "-", input="1,2,3\n")
    assert r.exit_code == ExitCode.ERROR and "standard input (-) can be read once" in r.stderr


def test_generator_source_and_stdin() -> None:
    r = run("analyze", "gen:normal:shape=3x5,seed=1", "--dtype", "float32", "--format", "json")
    assert r.exit_code == 0, r.output
    r = run("analyze", "-", "--dtype", "float32", "--format", "json", input="1,2,3\n4,5,6\n")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["sources"][0]["shape"] == [2, 3]


def test_softmax2d_over_channels() -> None:
    path = sample_input("segmentation_nchw.npy")
    r = run("analyze", str(path), "--dim", "1", "--dtype", "float32", "--format", "json")
    src = json.loads(r.stdout)["sources"][0]
    n, c, h, w = src["shape"]
    assert src["rows"] == n * h * w and src["row_length"] == c


def test_python_dash_m_runs() -> None:
    p = subprocess.run(
        [sys.executable, "-m", "smcheck", "--version"], cwd=ROOT, capture_output=True, text=True
    )
    assert p.returncode == 0 and "smcheck" in p.stdout


def test_format_choices_come_from_the_renderer_registry() -> None:
    from smcheck.report.renderers import ANALYZE_FORMATS, CHECK_FORMATS

    def choices(command: str) -> list[str]:
        param = next(p for p in cli.commands[command].params if p.name == "fmt")
        return list(param.type.choices)  # type: ignore[attr-defined]

    assert choices("analyze") == list(ANALYZE_FORMATS)
    assert choices("check") == list(CHECK_FORMATS)
    r = CliRunner().invoke(cli, ["check", "--isolated", "x.npy", "--report", "pdf=x.pdf"])
    assert r.exit_code == 2
    assert "FORMAT one of text, json, markdown, junit, github" in r.output


@pytest.mark.parametrize("command", ["analyze", "check", "capture"])
def test_every_report_command_names_its_plain_format_text_and_takes_table_as_text(
    command: str,
) -> None:
    # analyze and capture called it table, check text: each refused the other's name
    param = next(p for p in cli.commands[command].params if p.name == "fmt")
    choices = list(param.type.choices)  # type: ignore[attr-defined]
    assert param.default == "text" and "table" not in choices
    assert param.type.convert("table", param, None) == "text"
    assert "[text|json|markdown|" in run(command, "--help").stdout


def test_format_table_and_text_write_the_same_report(tmp_path: Path) -> None:
    argv = ["analyze", "--values", "1,2,30", "--dtype", "float16"]
    assert run(*argv, "--format", "table").stdout == run(*argv, "--format", "text").stdout
    np.save(tmp_path / "x.npy", np.array([[1.0, 2.0, 30.0]]))
    check = ["check", "--isolated", str(tmp_path / "x.npy"), "--dtype", "float16", "-q"]
    run(*check, "--report", f"table={tmp_path / 'a.txt'}", "--report", f"text={tmp_path / 'b.txt'}")
    assert (tmp_path / "a.txt").read_text() == (tmp_path / "b.txt").read_text() != ""
