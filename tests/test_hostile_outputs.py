"""Outputs that could destroy data: onto an input, onto devices and FIFOs, and what they keep.

Every writing option (``analyze -o``, ``generate -o``, ``check -o``, ``--report FORMAT=FILE``,
``--write-baseline``) goes through ``smcheck.output``; each case builds its files in a fresh
folder and compares the folder's state (kind, inode, mode, SHA-256 of every entry) before and
after, so "nothing written" means no byte, no replacement and no stray temporary file.
"""

from __future__ import annotations

import json
import os
import stat
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from smcheck.errors import ConfigError, ExitCode
from smcheck.output import write_output
from tests.clirun import invoke, one_error_line, run_process, state

FAST = ["--dtype", "float32", "--method", "naive", "--no-gradients"]
"""The cheapest analysis: these tests are about where the report goes, not what it says."""


@pytest.fixture(autouse=True)
def _never_replace_a_device(monkeypatch: pytest.MonkeyPatch) -> None:
    """A regression must fail these tests, not turn the machine's /dev/null into a file.

    Run as root, the old atomic write renamed a regular file over /dev/null (it happened once
    while checking that these tests fail on the old code).
    """
    for name in ("replace", "rename"):
        real = getattr(os, name)

        def guarded(src, dst, *args, _real=real, **kwargs):  # type: ignore[no-untyped-def]
            if os.path.exists(dst) and not stat.S_ISREG(os.stat(dst).st_mode):
                raise AssertionError(f"about to replace the non-regular file {dst}")
            return _real(src, dst, *args, **kwargs)

        monkeypatch.setattr(os, name, guarded)


def _logits(d: Path) -> Path:
    np.save(d / "x.npy", np.arange(12, dtype=np.float32).reshape(3, 4))
    return d / "x.npy"


# Each builder plants its inputs in the folder and returns the command line and the option
# that names the output; the output is, one way or another, the same file as an input.
Builder = Callable[[Path], tuple[list[str], str]]


def _analyze_onto_source(d: Path) -> tuple[list[str], str]:
    return ["analyze", str(_logits(d)), "-o", str(d / "x.npy")], "-o/--output"


def _analyze_json_onto_other_spelling(d: Path) -> tuple[list[str], str]:
    _logits(d)
    (d / "sub").mkdir()
    return ["analyze", str(d / "x.npy"), "--format", "json", "-o", f"{d}/sub/../x.npy"], "-o"


def _analyze_onto_hard_link(d: Path) -> tuple[list[str], str]:
    os.link(_logits(d), d / "hard.npy")
    return ["analyze", str(d / "x.npy"), "-o", str(d / "hard.npy")], "-o/--output"


def _analyze_onto_symlink(d: Path) -> tuple[list[str], str]:
    (d / "link.npy").symlink_to(_logits(d))
    return ["analyze", str(d / "x.npy"), "-o", str(d / "link.npy")], "-o/--output"


def _analyze_onto_keyed_container(d: Path) -> tuple[list[str], str]:
    np.savez(d / "a.npz", logits=np.ones((2, 3)))
    return ["analyze", f"{d / 'a.npz'}:logits", "-o", str(d / "a.npz")], "-o/--output"


def _analyze_onto_targets(d: Path) -> tuple[list[str], str]:
    np.save(d / "t.npy", np.array([0, 1]))
    argv = ["analyze", "--values", "1,2;3,4", "--targets", str(d / "t.npy")]
    return [*argv, "-o", str(d / "t.npy")], "-o/--output"


def _check_report_onto_source(d: Path) -> tuple[list[str], str]:
    return ["check", "--isolated", str(_logits(d)), "--report", f"json={d / 'x.npy'}"], "--report"


def _check_output_onto_source(d: Path) -> tuple[list[str], str]:
    argv = ["check", "--isolated", str(_logits(d)), "--format", "junit"]
    return [*argv, "-o", str(d / "x.npy")], "-o/--output"


def _check_baseline_onto_source(d: Path) -> tuple[list[str], str]:
    argv = ["check", "--isolated", str(_logits(d))]
    return [*argv, "--write-baseline", str(d / "x.npy")], "--write-baseline"


def _check_report_onto_directory_member(d: Path) -> tuple[list[str], str]:
    (d / "in").mkdir()
    _logits(d / "in")
    return ["check", "--isolated", str(d / "in"), "--report", f"junit={d}/in/x.npy"], "--report"


def _check_report_onto_glob_match(d: Path) -> tuple[list[str], str]:
    _logits(d)
    return ["check", "--isolated", f"{d}/*.npy", "--report", f"github={d / 'x.npy'}"], "--report"


def _check_report_onto_config(d: Path) -> tuple[list[str], str]:
    (d / "smcheck.toml").write_text('dtypes = ["float32"]\n')
    argv = ["check", str(_logits(d)), "--config", str(d / "smcheck.toml")]
    return [*argv, "--report", f"json={d / 'smcheck.toml'}"], "--report"


def _check_report_onto_baseline(d: Path) -> tuple[list[str], str]:
    baseline = d / "b.json"
    baseline.write_text('{"smcheck_baseline": 1, "violations": []}\n')
    argv = ["check", "--isolated", str(_logits(d)), "--baseline", str(baseline)]
    return [*argv, "--report", f"json={baseline}"], "--report"


def _capture_onto_its_script(d: Path) -> tuple[list[str], str]:
    (d / "run.py").write_text("import torch\ntorch.softmax(torch.ones(2, 3), -1)\n")
    return ["capture", "--isolated", "-o", str(d / "run.py"), str(d / "run.py")], "-o/--output"


def _step_summary_onto_source(d: Path) -> tuple[list[str], str]:
    os.environ["GITHUB_STEP_SUMMARY"] = str(_logits(d))  # the test's monkeypatch restores it
    return ["check", "--isolated", str(d / "x.npy"), *FAST], "$GITHUB_STEP_SUMMARY"


ONTO_AN_INPUT: list[Builder] = [
    _analyze_onto_source,
    _analyze_json_onto_other_spelling,
    _analyze_onto_hard_link,
    _analyze_onto_symlink,
    _analyze_onto_keyed_container,
    _analyze_onto_targets,
    _check_report_onto_source,
    _check_output_onto_source,
    _check_baseline_onto_source,
    _check_report_onto_directory_member,
    _check_report_onto_glob_match,
    _check_report_onto_config,
    _check_report_onto_baseline,
    _capture_onto_its_script,
    _step_summary_onto_source,
]


@pytest.mark.parametrize("build", ONTO_AN_INPUT, ids=lambda b: b.__name__.strip("_"))
def test_an_output_onto_an_input_is_refused_and_nothing_is_written(
    tmp_path: Path, build: Builder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)  # restored after the builder's
    argv, option = build(tmp_path)
    before = state(tmp_path)
    one_error_line(invoke(*argv), option, "is the same file as", "choose another file")
    assert state(tmp_path) == before


@pytest.mark.parametrize(
    ("outputs", "option", "first"),
    [
        (
            ["-o", "r.json", "--format", "json", "--report", "junit=r.json"],
            "-o/--output",
            "--report",
        ),
        (["--report", "junit=r.xml", "--report", "sarif=./r.xml"], "--report", "--report"),
        (["--write-baseline", "b.json", "-o", "b.json"], "--write-baseline", "-o/--output"),
    ],
    ids=["output-and-report", "two-reports", "baseline-and-output"],
)
def test_two_outputs_onto_one_file_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, outputs: list[str], option: str, first: str
) -> None:
    monkeypatch.chdir(tmp_path)
    _logits(tmp_path)
    before = state(tmp_path)
    r = invoke("check", "--isolated", "x.npy", *FAST, *outputs)
    one_error_line(r, option, f"is the same file as {first}", "give each its own file")
    assert state(tmp_path) == before


def test_capture_save_and_report_onto_one_file_are_refused(tmp_path: Path) -> None:
    script = tmp_path / "run.py"
    script.write_text("raise SystemExit('the script must not run')\n")
    before = state(tmp_path)
    out = str(tmp_path / "c.safetensors")
    r = invoke("capture", "--isolated", "--save", out, "-o", out, str(script))
    one_error_line(r, "-o/--output", "is the same file as --save", "give each its own file")
    assert state(tmp_path) == before


def test_stdin_read_from_the_output_file_is_refused(tmp_path: Path) -> None:
    # a real process: only there is standard input a file with an inode
    x = _logits(tmp_path)
    before = state(tmp_path)
    code, err = run_process(["analyze", "-", "-o", str(x)], f"< '{x}'")
    assert code == ExitCode.ERROR, err
    assert err.count("Error: ") == 1 and "is the same file as standard input" in err, err
    assert state(tmp_path) == before


def test_writing_the_new_baseline_over_the_old_one_is_allowed(tmp_path: Path) -> None:
    base = tmp_path / "b.json"
    argv = ["check", "--isolated", str(_logits(tmp_path)), *FAST, "--fail-on", "never"]
    assert invoke(*argv, "--write-baseline", str(base)).exit_code == 0
    r = invoke(*argv, "--baseline", str(base), "--write-baseline", str(base))
    assert r.exit_code == 0, r.output
    assert json.loads(base.read_text())["smcheck_baseline"] == 1


# ------------------------------------------------------------- devices, FIFOs, modes, symlinks


def _device_state() -> tuple[int, int, int]:
    st = os.stat(os.devnull)
    return st.st_ino, st.st_mode, st.st_rdev


@pytest.mark.parametrize(
    "argv",
    [
        ["analyze", "--values", "1,2,3", *FAST, "-o", os.devnull],
        ["generate", "constant", "--shape", "2x3", "-o", os.devnull],
        ["check", "--isolated", "gen:uniform:shape=2x3", *FAST, "--fail-on", "never",
         "--report", f"junit={os.devnull}", "--write-baseline", os.devnull],
    ],
    ids=["analyze", "generate", "check"],
)  # fmt: skip
def test_dev_null_stays_a_device(argv: list[str]) -> None:
    before = _device_state()
    r = invoke(*argv)
    assert r.exit_code == 0, r.output
    assert _device_state() == before
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_is_written_in_place(tmp_path: Path) -> None:
    fifo = tmp_path / "report.fifo"
    os.mkfifo(fifo)
    inode = fifo.stat().st_ino
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()  # opening a FIFO for writing waits for a reader
    r = invoke("analyze", "--values", "1,2,3", *FAST, "--format", "json", "-o", str(fifo))
    reader.join(timeout=30)
    assert r.exit_code == 0, r.output
    assert json.loads(got[0])["schema_version"] == 1
    assert stat.S_ISFIFO(fifo.lstat().st_mode) and fifo.stat().st_ino == inode
    assert [p.name for p in tmp_path.iterdir()] == ["report.fifo"]


@pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_a_new_file_honours_the_umask(tmp_path: Path, mask: int, mode: int) -> None:
    old = os.umask(mask)
    try:
        write_output(tmp_path / "r.txt", "report\n")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "r.txt").stat().st_mode) == mode


def test_a_replaced_file_keeps_its_mode_and_is_replaced_atomically(tmp_path: Path) -> None:
    out = tmp_path / "r.npy"
    out.write_text("old")
    out.chmod(0o640)
    inode = out.stat().st_ino
    r = invoke("generate", "constant", "--shape", "2x3", "-o", str(out))
    assert r.exit_code == 0, r.output
    assert stat.S_IMODE(out.stat().st_mode) == 0o640
    assert out.stat().st_ino != inode  # a new file renamed into place, not rewritten
    assert np.load(out).shape == (2, 3)
    assert [p.name for p in tmp_path.iterdir()] == ["r.npy"]  # no temporary file left


def test_a_symlink_is_followed_not_replaced(tmp_path: Path) -> None:
    (tmp_path / "real.npy").write_bytes(b"old")
    (tmp_path / "link.npy").symlink_to("real.npy")
    r = invoke("generate", "constant", "--shape", "2x3", "-o", str(tmp_path / "link.npy"))
    assert r.exit_code == 0, r.output
    assert (tmp_path / "link.npy").is_symlink()
    assert np.load(tmp_path / "real.npy").shape == (2, 3)


def test_the_file_that_is_our_stdout_is_written_in_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # smcheck analyze x.npy -o /dev/stdout > out.txt: the shell's file keeps its inode
    out = tmp_path / "out.txt"
    with open(out, "w") as fh:
        monkeypatch.setattr("sys.stdout", fh)
        inode = out.stat().st_ino
        write_output(out, "report\n")
    assert out.stat().st_ino == inode and out.read_text() == "report\n"


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root may write anywhere")
def test_a_read_only_file_is_not_replaced(tmp_path: Path) -> None:
    out = tmp_path / "r.txt"
    out.write_text("keep")
    out.chmod(0o444)
    before = state(tmp_path)
    with pytest.raises(ConfigError, match="Permission denied"):
        write_output(out, "report")
    assert state(tmp_path) == before


@pytest.mark.parametrize(
    ("where", "fragment"),
    [("missing/r.json", "No such file or directory"), (".", "it is a directory")],
)
def test_an_unwritable_report_path_is_one_error_and_leaves_nothing(
    tmp_path: Path, where: str, fragment: str
) -> None:
    x = _logits(tmp_path)
    before = state(tmp_path)
    r = invoke("check", "--isolated", str(x), *FAST, "--report", f"json={tmp_path / where}")
    one_error_line(r, f"cannot write '{tmp_path / where}'", fragment)
    assert state(tmp_path) == before


_DASH = " (or - for standard output)"


@pytest.mark.parametrize(
    ("argv", "option", "alternative"),
    [
        (["analyze", "--values", "1,2,3", "-o", ""], "-o/--output", _DASH),
        (["check", "--isolated", "x.npy", "-o", ""], "-o/--output", _DASH),
        (["check", "--isolated", "x.npy", "--report", "json="], "--report json=", _DASH),
        (["check", "--isolated", "x.npy", "--write-baseline", ""], "--write-baseline", _DASH),
        (["generate", "spike", "-o", ""], "-o/--output", _DASH),
        (["capture", "-o", "", "script.py"], "-o/--output", _DASH),
        (["capture", "--save", "", "script.py"], "--save", ""),  # binary: never stdout
    ],
)
def test_an_empty_output_path_is_refused_naming_the_option_before_any_work(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    option: str,
    alternative: str,
) -> None:
    # '' names no file: it failed on writing, after the work, as "cannot write '': Is a directory"
    monkeypatch.chdir(tmp_path)
    _logits(tmp_path)
    (tmp_path / "script.py").write_text("open('ran', 'w').close()\n")
    before = state(tmp_path)
    line = one_error_line(invoke(*argv))
    assert line == f"Error: the output path of {option} is empty; give a file name{alternative}"
    assert state(tmp_path) == before


def test_write_output_refuses_an_empty_path() -> None:
    with pytest.raises(ConfigError) as e:
        write_output("", "report")
    assert str(e.value) == f"the output path is empty; give a file name{_DASH}"


@pytest.mark.parametrize("fmt", ["text", "markdown", "html"])
def test_a_file_name_that_is_not_utf8_is_escaped_in_a_text_report(tmp_path: Path, fmt: str) -> None:
    # os.fsdecode gives b"\xff\xfe" as surrogates, which utf-8 refused: exit 3, report lost
    name = os.fsdecode(b"\xff\xfe.json")
    (tmp_path / name).write_text("[1, 2, 3]")
    out = tmp_path / "r.txt"
    r = invoke("analyze", str(tmp_path / name), "--format", fmt, "-o", str(out))
    assert r.exit_code == 0, r.output
    assert "\\udcff\\udcfe.json" in out.read_text(encoding="utf-8")


def test_output_dash_is_standard_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # a file named "-" would land here
    r = invoke("analyze", "--values", "1,2,3", "--format", "json", "-o", "-")
    assert r.exit_code == 0 and json.loads(r.stdout)["schema_version"] == 1
    np.save(tmp_path / "x.npy", np.array([[1.0, 2.0, 3.0]]))
    r = invoke("check", "--isolated", "-q", "x.npy", "--report", "json=-")
    assert r.exit_code == 0 and '"schema_version": 1' in r.stdout
    assert not (tmp_path / "-").exists()
    # without -q the text report goes there too: the two would run into each other
    r = invoke("check", "--isolated", "x.npy", "--report", "json=-")
    assert (
        r.exit_code == ExitCode.ERROR and "one report at most goes to standard output" in r.stderr
    )


def test_a_baseline_and_a_report_both_on_stdout_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    np.save(tmp_path / "x.npy", np.array([[1.0, 2.0, 3.0]]))
    r = invoke("check", "--isolated", "-q", "x.npy", "--report", "json=-", "--write-baseline", "-")
    assert (
        r.exit_code == ExitCode.ERROR and "one report at most goes to standard output" in r.stderr
    )
