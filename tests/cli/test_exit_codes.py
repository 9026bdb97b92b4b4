"""Exit codes a CI can trust: 1 only for findings, one line for every failure, quiet interrupts.

Unexpected exceptions are forced by replacing one library function; closed streams and closed
pipes are real where they must be (a subprocess), in process where Python's view is the same.
"""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import smcheck.api
from smcheck.cli import cli
from smcheck.config import MAX_TEMPERATURES, AnalysisConfig
from smcheck.errors import ConfigError, ExitCode
from tests.clirun import invoke, one_error_line, run_process, state
from tests.conftest import ROOT

FAST = ["--dtype", "float32", "--method", "naive", "--no-gradients"]
ANALYZE = importlib.import_module("smcheck.cli.analyze")  # the module, not the command it holds


def _raise(exc: BaseException):  # type: ignore[no-untyped-def]
    def boom(*_args: object, **_kwargs: object) -> None:
        raise exc

    return boom


# ---------------------------------------------------------------- unexpected errors, --debug


@pytest.mark.parametrize(
    "exc",
    [ZeroDivisionError("boom\nsecond line"), RecursionError(), MemoryError(), KeyError("k")],
    ids=lambda e: type(e).__name__,
)
def test_an_internal_error_is_one_line_and_exit_3(
    monkeypatch: pytest.MonkeyPatch, exc: Exception
) -> None:
    monkeypatch.setattr(smcheck.api, "run_sources", _raise(exc))
    line = one_error_line(
        invoke("analyze", "--values", "1,2,3"),
        f"Error: internal error: {type(exc).__name__}",
        "(rerun with --debug for the traceback)",
        code=ExitCode.INTERNAL,
    )
    assert "Traceback" not in line


def test_debug_reraises_the_internal_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(smcheck.api, "run_sources", _raise(ZeroDivisionError("boom")))
    r = invoke("--debug", "analyze", "--values", "1,2,3")
    assert isinstance(r.exception, ZeroDivisionError)


def test_a_library_error_outside_a_command_block_is_still_exit_2(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # raised after the command's own error handling (here: while summarising)
    monkeypatch.setattr(ANALYZE, "summarise", _raise(ConfigError("bad thing; fix")))
    one_error_line(invoke("analyze", "--values", "1,2,3", *FAST), "Error: bad thing; fix")


def test_ctrl_c_exits_130_quietly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(smcheck.api, "run_sources", _raise(KeyboardInterrupt()))
    r = invoke("analyze", "--values", "1,2,3")
    assert (r.exit_code, r.stdout, r.stderr) == (ExitCode.INTERRUPTED, "", "")


def test_a_closed_pipe_exits_141_quietly_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ANALYZE, "emit", _raise(BrokenPipeError(32, "Broken pipe")))
    r = invoke("analyze", "--values", "1,2,3", *FAST)
    assert (r.exit_code, r.stderr) == (ExitCode.BROKEN_PIPE, "")


@pytest.mark.parametrize("code", [28, 122, 27], ids=["ENOSPC", "EDQUOT", "EFBIG"])
def test_a_full_disk_under_stdout_is_one_error_exit_2(
    monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    monkeypatch.setattr(ANALYZE, "emit", _raise(OSError(code, os.strerror(code))))
    r = invoke("analyze", "--values", "1,2,3", *FAST)
    assert r.exit_code == ExitCode.ERROR, r.output
    assert (
        r.stderr == f"Error: cannot write the output: {os.strerror(code)}; free some space, "
        "or write elsewhere\n"
    )


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full here")
def test_writing_to_dev_full_is_exit_2_in_a_real_process() -> None:
    code, err = run_process(["schema"], "> /dev/full")
    assert code == ExitCode.ERROR and err.startswith("Error: cannot write the output"), err
    # stderr full too: the error has nowhere to go, the exit code still says it (1 was findings)
    code, _ = run_process(["analyze", "--values", "1,2", "-q"], "2> /dev/full")
    assert code == ExitCode.ERROR


@pytest.mark.parametrize("command", [["thresholds"], ["schema"]], ids=["rich", "click-echo"])
def test_a_closed_pipe_exits_141_quietly(command: list[str]) -> None:
    # rich's own reaction to a closed pipe is SystemExit(1), the code of findings
    proc = subprocess.Popen(
        [sys.executable, "-m", "smcheck", *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    proc.stdout.close()  # the reader is gone before the first write (| head -0)
    _, err = proc.communicate(timeout=120)
    assert (proc.returncode, err) == (ExitCode.BROKEN_PIPE, b"")


def test_a_pipe_closed_after_the_first_bytes_of_a_large_report_exits_141() -> None:
    # a text stream took 65536 of a 137015-byte report and dropped the rest: exit 0, report cut
    argv = ["analyze", "gen:normal:shape=64x300", "--format", "json", "--dtype", "fp16"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "smcheck", *argv, "--method", "torch", "--temperature", "0.1:10:20"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    assert proc.stdout is not None and proc.stdout.read(10) == b'{\n  "schem'
    proc.stdout.close()  # as | head -c 10 does
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == ExitCode.BROKEN_PIPE, err


def test_warnings_never_reach_stderr_unless_debug(monkeypatch: pytest.MonkeyPatch) -> None:
    real = smcheck.api.run_sources

    def noisy(*args, **kwargs):  # type: ignore[no-untyped-def]
        with np.errstate(all="warn"):
            np.float16(60000) * np.float16(2)  # RuntimeWarning: overflow
        warnings.warn("library chatter", UserWarning, stacklevel=1)
        return real(*args, **kwargs)

    def to_stderr(message, category, filename, lineno, file=None, line=None):  # type: ignore[no-untyped-def]
        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))

    monkeypatch.setattr(smcheck.api, "run_sources", noisy)
    monkeypatch.setattr(warnings, "showwarning", to_stderr)  # as outside pytest's recorder
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        quiet = invoke("analyze", "--values", "1,2,3", *FAST)
        loud = invoke("--debug", "analyze", "--values", "1,2,3", *FAST)
    assert quiet.exit_code == 0 and quiet.stderr.startswith("smcheck: 1 source"), quiet.stderr
    assert "Warning" not in quiet.stderr
    assert "library chatter" in loud.stderr and "overflow" in loud.stderr


# ---------------------------------------------------------------------------- closed streams


def test_closed_stdin_is_no_crash_when_stdin_is_not_a_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", None)  # what Python makes of `<&-`
    with pytest.raises(SystemExit) as info:
        cli.main(["analyze", "--values", "1,2,3", *FAST, "--format", "json"], prog_name="smcheck")
    assert info.value.code == 0
    assert capsys.readouterr().out.startswith("{")


def test_closed_stdin_as_a_source_is_one_error() -> None:
    code, err = run_process(["analyze", "-"], "<&-")
    assert code == ExitCode.ERROR, err
    assert err == (
        "Error: cannot load <stdin>: standard input is closed; pipe the logits in, "
        "e.g. < logits.npy\n"
    )


def test_closed_stdout_is_one_error(monkeypatch: pytest.MonkeyPatch) -> None:
    code, err = run_process(["thresholds"], ">&-")
    assert code == ExitCode.ERROR, err
    assert err == "Error: standard output is closed; redirect it (> report.txt) or use -o FILE\n"


# ------------------------------------------------------------- config and baseline that nest


def _deep_toml(d: Path) -> Path:
    (d / "smcheck.toml").write_text("dtypes = " + "[" * 50_000 + "]" * 50_000 + "\n")
    return d / "smcheck.toml"


def _huge_int_toml(d: Path) -> Path:
    (d / "smcheck.toml").write_text("dim = " + "1" * 5000 + "\n")
    return d / "smcheck.toml"


@pytest.mark.parametrize(
    ("build", "fragment"),
    [(_deep_toml, "nests arrays or tables too deeply"), (_huge_int_toml, "fix the value")],
)
def test_a_config_found_walking_up_that_cannot_be_parsed_is_one_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, build, fragment: str
) -> None:  # type: ignore[no-untyped-def]
    build(tmp_path)
    (tmp_path / "a" / "b").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "a" / "b")
    before = state(tmp_path)
    one_error_line(invoke("check", "gen:uniform:shape=2x3"), "smcheck.toml", fragment)
    assert state(tmp_path) == before


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[" * 100_000 + "]" * 100_000, "nests lists too deeply"),
        ('{"smcheck_baseline": ' + "1" * 5000 + "}", "Exceeds the limit"),
    ],
    ids=["deep", "huge-int"],
)
def test_a_baseline_that_cannot_be_parsed_is_one_error(
    tmp_path: Path, text: str, fragment: str
) -> None:
    (tmp_path / "b.json").write_text(text)
    before = state(tmp_path)
    r = invoke(
        "check", "--isolated", "gen:uniform:shape=2x3", "--baseline", str(tmp_path / "b.json")
    )
    one_error_line(r, "baseline", fragment, "regenerate it with --write-baseline")
    assert state(tmp_path) == before


# ------------------------------------------------------------------- options that say nothing


@pytest.mark.parametrize(
    ("option", "value"),
    [("--dtype", ""), ("--dtype", " , "), ("--method", ","), ("--temperature", "")],
)
def test_an_empty_option_is_a_usage_error_not_the_default(option: str, value: str) -> None:
    r = invoke("analyze", "--values", "1,2,3", option, value)
    assert r.exit_code == ExitCode.ERROR, r.output
    errors = [line for line in r.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1 and ("empty" in errors[0] or "no temperature" in errors[0]), r.stderr


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["analyze", "--values", "1,2", "--temperature", "1,,2"], "empty item in temperatures"),
        (["analyze", "--values", "1,2", "--targets", "argmedian"], "use argmax, argmin or a file"),
        (["check", "--isolated", "gen:spike", "--fail-on", "never,nan"], "'never' means no"),
    ],
    ids=["temperature-typo", "unknown-target-rule", "never-combined"],
)
def test_a_slip_in_an_option_is_named_with_its_fix(argv: list[str], fragment: str) -> None:
    one_error_line(invoke(*argv), fragment)


@pytest.mark.parametrize(
    "value",
    ["0.1:1:3000", "0.1:1:99999999999999999999", ",".join([*map(str, range(1, 52)), "2:3:60"])],
)
def test_too_many_temperatures_is_a_usage_error_naming_the_limit(value: str) -> None:
    one_error_line(
        invoke("analyze", "--values", "1,2,3", "--temperature", value),
        f"more than the {MAX_TEMPERATURES} one analysis takes",
    )


def test_a_repeated_temperature_is_counted_once() -> None:
    # 50 ones and a range of 60 were refused as 110 temperatures: the analysis runs 61
    r = invoke("analyze", "--values", "1,2,3", "--temperature", ",".join(["1"] * 50 + ["2:3:60"]))
    assert r.exit_code == ExitCode.OK, r.output


def test_help_states_the_temperature_limit() -> None:
    shown = " ".join(invoke("analyze", "--help").stdout.split())  # as wrapped for the terminal
    assert f"(at most {MAX_TEMPERATURES} temperatures)" in shown


def test_the_api_caps_temperatures_too() -> None:
    with pytest.raises(ConfigError, match=str(MAX_TEMPERATURES)):
        AnalysisConfig(temperatures=tuple(np.linspace(1, 2, MAX_TEMPERATURES + 1)))
    assert len(AnalysisConfig(temperatures=tuple(np.linspace(1, 2, MAX_TEMPERATURES))).temperatures)


def test_readme_lists_every_exit_code() -> None:
    readme = (ROOT / "README.md").read_text()
    listed = {int(code) for code in re.findall(r"^\| (\d+) \|", readme, flags=re.M)}
    assert listed == {int(c) for c in ExitCode}


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_a_terminal_whose_encoding_lacks_the_reports_characters_gets_the_report() -> None:
    # PYTHONIOENCODING=ascii on a terminal: rich wrote × and exited 3, an internal error
    main, sub = os.openpty()
    env = {**os.environ, "PYTHONIOENCODING": "ascii", "PYTHONPATH": str(ROOT), "COLUMNS": "80"}
    argv = ["analyze", "sample_inputs/minus999.json", "--dtype", "fp16", "--method", "shifted"]
    proc = subprocess.run(
        [sys.executable, "-m", "smcheck", *argv], stdout=sub, stderr=subprocess.PIPE, cwd=ROOT,
        env=env, timeout=120,
    )  # fmt: skip
    os.close(sub)
    shown = b""
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # EIO once the terminal's other end is closed and drained
            break
        if not chunk:
            break
        shown += chunk
    os.close(main)
    assert proc.returncode == 0, proc.stderr
    plain = re.sub(rb"\x1b\[[0-9;]*m", b"", shown)  # the colours
    assert b"gradient-nan  shifted ? float16: log(softmax) gives -inf" in plain


def test_a_row_just_over_the_memory_budget_does_not_read_as_equal_to_it() -> None:
    # 2049 elements x 512 bytes is 1.0005 MiB: "needs 1 MiB ..., more than 1 MiB" read as false
    one_error_line(
        invoke("analyze", "gen:normal:shape=1x2049", "--memory-budget", "1"),
        "needs 1.001 MiB of working memory (512 bytes per element), more than --memory-budget "
        "1 (MiB) allows; raise it to --memory-budget 2 (MiB) or more",
    )


def test_a_memory_budget_refusal_states_mib_on_the_cli_and_bytes_in_the_api() -> None:
    # "more than --memory-budget 1 allows" said no unit, beside a need given in MiB
    one_error_line(
        invoke("analyze", "--memory-budget", "1", "gen:normal:shape=1x400000"),
        "needs 15.259 MiB to generate (40 bytes per element), more than --memory-budget 1 (MiB) "
        "allows; generate a smaller array or raise --memory-budget",
    )
    with pytest.raises(ConfigError, match=r"more than memory_budget=1048576 allows; generate"):
        smcheck.api.analyze("gen:normal:shape=1x400000", memory_budget=2**20)
