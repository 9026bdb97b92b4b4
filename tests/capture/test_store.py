"""cap.save(FILE) then ``smcheck analyze FILE``: the same report (``check`` refuses it, naming
analyze); ``smcheck capture SCRIPT``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import smcheck
from smcheck.capture.session import NothingCapturedError
from smcheck.cli import cli
from smcheck.errors import ConfigError, LoadError
from tests.report.test_schema import errors

SCRIPT = """
import sys, torch
x = torch.tensor([[1.0, 2.0, 3.0], [0.5, 0.25, 4.0]], dtype=torch.{dtype})
if "--pad" in sys.argv:
    x[1] = float("-inf")
torch.softmax(x, dim=-1)
"""


ONE_SOFTMAX = "import torch\ntorch.softmax(torch.ones(2, 3), dim=-1)\n"
"""A script whose one softmax is a capture site."""


def test_saved_capture_analyzes_to_the_same_report(tmp_path: Path) -> None:
    x = torch.randn(6, 9).to(torch.bfloat16)
    with smcheck.capture() as cap:
        torch.log_softmax(x, dim=-1)
        torch.nn.functional.cross_entropy(torch.randn(5, 4), torch.tensor([0, 1, -100, 3, 2]))
    path = cap.save(tmp_path / "run.safetensors")
    r = CliRunner().invoke(cli, ["analyze", str(path), "--format", "json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout) == json.loads(smcheck.to_json(cap.analyze()))
    sources = json.loads(r.stdout)["sources"]
    assert sources[0]["site"]["dtype"] == "bfloat16" and sources[0]["dtype"] == "bfloat16"
    assert sources[1]["rows"] == 4  # the ignore_index row is not in the loss
    assert errors(json.loads(r.stdout)) == []  # the site meets the shipped schema


def test_capture_command_runs_a_script_with_check_exit_codes(tmp_path: Path) -> None:
    script = tmp_path / "model.py"
    script.write_text(SCRIPT.format(dtype="float16"))
    saved = tmp_path / "run.safetensors"
    run = CliRunner().invoke
    ok = run(cli, ["capture", "--isolated", "--format", "json", "--save", str(saved), str(script)])
    assert ok.exit_code == 0, ok.output
    site = json.loads(ok.stdout)["sources"][0]["site"]
    assert (site["op"], site["dtype"], site["line"]) == ("softmax", "float16", 6)
    assert saved.is_file()
    bad = run(cli, ["capture", "--isolated", "--format", "json", str(script), "--pad"])
    # said once: the masked row that returned NaN
    assert bad.exit_code == 1 and bad.stderr.count("1 row fully masked") == 1
    assert "returned NaN in 1 row" not in bad.stderr
    err = run(cli, ["capture", "--isolated", str(tmp_path / "missing.py")])
    assert err.exit_code == 2 and err.stderr.startswith("Error: no such script")
    err = run(cli, ["capture", "--isolated", str(tmp_path)])
    assert err.exit_code == 2 and "is a directory; give a .py file" in err.stderr
    err = run(cli, ["capture", "--isolated", "-m", "no_such_module_here"])
    assert err.exit_code == 2 and err.stderr == (
        "Error: no module named 'no_such_module_here'; check the name (it must be importable)\n"
    )
    pkg = tmp_path / "pkgx"  # a package whose own import fails: that error, not "no module"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("import not_installed_dep_xyz\n")
    (pkg / "evaluate.py").write_text("x = 1\n")
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(tmp_path))
        err = run(cli, ["capture", "--isolated", "-m", "pkgx.evaluate"])
    assert err.exit_code == 2 and "No module named 'not_installed_dep_xyz'" in err.stderr


UPSTREAM = "import torch\ntorch.softmax(torch.tensor([[1.0, 2.0, float('inf')]]).half(), -1)\n"
"""A script whose softmax gets a float16 row with +inf (from upstream): torch returns NaN."""


def test_capture_command_counts_an_input_problem_once_as_check_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # it ended "3 violations": the upstream row twice (its input finding, then the input
    # condition's violation) beside the NaN the model returned; under --fail-on fail the two
    # findings and a third line joining them. check reports the row once. Then 2: the NaN the
    # model returned for that row is the same problem, said by the input condition.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "inf.py").write_text(UPSTREAM)
    np.save("up.npy", np.array([[1.0, 2.0, np.inf]], np.float16))
    for fail_on in ([], ["--fail-on", "fail"]):
        got = CliRunner().invoke(
            cli, ["capture", "--isolated", "--format", "json", *fail_on, "inf.py"]
        )
        assert got.exit_code == 1, got.output
        source = json.loads(got.stdout)["sources"][0]
        [returned] = [
            f["message"] for f in source["input"]["findings"] if f["kind"] == "observed_nan"
        ]
        check = CliRunner().invoke(
            cli, ["check", "--isolated", "--format", "json", *fail_on, "up.npy"]
        )
        [upstream] = [v["message"] for v in json.loads(check.stdout)["violations"]]
        said = [upstream] if not fail_on else [f"{returned}; {upstream}"]
        assert got.stderr.splitlines()[1:] == [
            *(f"smcheck: {source['name']}: {m}" for m in said),
            f"smcheck capture: {len(said)} violation{'s' * (len(said) > 1)}",
        ]


def test_capture_command_counts_a_fully_masked_row_that_returned_nan_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the README's pool.py ended "2 violations" for its one fully masked row: the NaN the model
    # returned there, then the row; check on the same rows reports one
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pool.py").write_text(
        "import torch\nx = torch.zeros(3, 5, dtype=torch.float16)\n"
        "x[2] = float('-inf')\ntorch.softmax(x, -1)\n"
    )
    r = CliRunner().invoke(cli, ["capture", "--isolated", "-q", "pool.py"])
    assert r.exit_code == 1, r.output
    assert r.stderr.endswith("smcheck capture: 1 violation\n")


def test_capture_quiet_prints_the_summary_lines_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # -q ("print only the summary line") still printed every violation line; check -q does not
    monkeypatch.chdir(tmp_path)
    (tmp_path / "inf.py").write_text(UPSTREAM)
    r = CliRunner().invoke(cli, ["capture", "--isolated", "-q", "inf.py"])
    assert r.exit_code == 1, r.output
    assert r.stdout == "" and r.stderr == (
        "smcheck: 1 source, 3 cells: 0 FAIL, 0 WARN, 0 OK, 3 not judged; input: 2 FAIL\n"
        "smcheck capture: 1 violation\n"
    )


def test_capture_command_exits_2_on_a_script_that_ran_no_softmax(tmp_path: Path) -> None:
    # it exited 0 with a note: a CI step that checked nothing passed as if it had checked
    quiet = tmp_path / "quiet.py"
    # its one softmax runs on another thread, which capture does not see
    quiet.write_text(
        f"import threading\nt = threading.Thread(target=exec, args=({ONE_SOFTMAX!r}, {{}}))\n"
        "t.start()\nt.join()\n"
    )
    saved = tmp_path / "run.safetensors"
    r = CliRunner().invoke(cli, ["capture", "--isolated", "--save", str(saved), str(quiet)])
    assert r.exit_code == 2, r.output
    assert r.stderr.startswith(f"Error: '{quiet}' ran no softmax call that smcheck captures, so ")
    assert "on the thread that entered the capture" in r.stderr and r.stderr.count("\n") == 1
    assert r.stdout == "" and not saved.exists()  # no clean-looking report, no empty capture


def test_an_empty_capture_is_neither_saved_nor_analysed(tmp_path: Path) -> None:
    # cap.save wrote a file of no site and cap.analyze() gave an OK report of no source, which
    # `smcheck analyze` then passed: nothing captured is a failure, as smcheck capture says
    with smcheck.capture() as cap:
        pass
    saved = tmp_path / "empty.safetensors"
    with pytest.raises(NothingCapturedError, match="^no softmax call was captured, so there is "):
        cap.save(saved)
    assert not saved.exists()
    with pytest.raises(NothingCapturedError, match="nothing to analyse: capture records torch"):
        cap.analyze()


def test_a_capture_file_that_holds_no_rows_is_bad_input_not_a_pass(tmp_path: Path) -> None:
    # `smcheck analyze empty.safetensors --fail-on warn` printed "0 sources, 0 cells" and exited 0
    head = json.dumps({"__metadata__": {"format": "smcheck.capture/1", "sites": "[]"}}).encode()
    path = tmp_path / "empty.safetensors"
    path.write_bytes(len(head).to_bytes(8, "little") + head)
    r = CliRunner().invoke(cli, ["analyze", str(path), "--fail-on", "warn", "-q"])
    assert r.exit_code == 2, r.output
    assert r.stderr == (
        f"Error: cannot load '{path}': it holds no captured rows, so there is nothing to "
        "analyse; save a capture that recorded a softmax call\n"
    )


def test_save_refuses_a_name_of_another_input_format_as_capture_save_does(
    tmp_path: Path,
) -> None:
    # cap.save("x.npy") wrote safetensors bytes that `smcheck analyze x.npy` could not read
    with smcheck.capture() as cap:
        torch.softmax(torch.ones(2, 3), dim=-1)
    script = tmp_path / "one.py"
    script.write_text(ONE_SOFTMAX)
    for name in ("x.npy", "x.CSV"):
        with pytest.raises(ConfigError) as e:
            cap.save(tmp_path / name)
        r = CliRunner().invoke(cli, ["capture", "--save", str(tmp_path / name), str(script)])
        assert r.exit_code == 2 and r.stderr == f"Error: {e.value}\n"
        assert str(e.value).endswith("; name it *.safetensors")
        assert not (tmp_path / name).exists()


def test_save_refuses_standard_output_and_what_is_no_path_as_capture_save_does(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # cap.save("-") wrote the binary file to standard output (--save - is refused), and
    # cap.save(5) raised TypeError from os.fspath
    with smcheck.capture() as cap:
        torch.softmax(torch.ones(2, 3), dim=-1)
    with pytest.raises(ConfigError, match=r"binary \.safetensors file: give it a path, not -$"):
        cap.save("-")
    assert capsys.readouterr().out == ""
    for wrong in (5, None):
        with pytest.raises(ConfigError, match=rf"^cap\.save\({wrong}\): give a file path, e\.g\."):
            cap.save(wrong)  # type: ignore[arg-type]


def test_capture_analyze_refuses_an_empty_selection_and_a_progress_that_is_no_function() -> None:
    # as smcheck.analyze: temperatures=() ran at T = 1, progress=5 raised TypeError mid-run
    with smcheck.capture() as cap:
        torch.softmax(torch.ones(2, 3), dim=-1)
    for key in ("dtypes", "methods", "temperatures"):
        with pytest.raises(ConfigError, match="^nothing to analyse"):
            cap.analyze(**{key: ()})
    with pytest.raises(ConfigError, match=r"^progress=5 is not callable"):
        cap.analyze(progress=5)


def test_an_empty_capture_of_calls_without_rows_asks_for_rows_then_the_callers_fix(
    tmp_path: Path,
) -> None:
    # it advised only "run the model on the main thread, outside torch.compile" for a call on
    # the main thread whose tensor had no rows; then only "give it rows to check", losing the
    # caller's fix where the real model may have run on another thread
    script = tmp_path / "empty.py"
    script.write_text("import torch\ntorch.softmax(torch.zeros(0, 3), -1)\n")
    r = CliRunner().invoke(cli, ["capture", "--isolated", str(script)])
    assert r.exit_code == 2, r.output
    assert r.stderr.endswith(
        "1 call without rows (an empty tensor, or only fully masked "
        "attention rows the kernel returned as zeros) is not counted; "
        "give that call rows to check, or run the model on the main thread, outside "
        "torch.compile\n"
    )
    assert r.stderr.count("\n") == 1  # one sentence


def test_capture_script_output_goes_to_stderr_while_the_report_is_on_stdout(
    tmp_path: Path,
) -> None:
    # a script printing a tensor wrote it into stdout before the JSON report: it did not parse
    script = tmp_path / "chatty.py"
    script.write_text(
        "import sys, torch\nprint(torch.softmax(torch.ones(1, 2), dim=-1))\n"
        "sys.stdout.write('written\\n')\n"
    )
    r = CliRunner().invoke(cli, ["capture", "--isolated", "--format", "json", str(script)])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["sources"][0]["site"]["op"] == "softmax"
    assert "tensor([[0.5000, 0.5000]])\nwritten\n" in r.stderr
    # no report on stdout (-q): the script's output stays there
    r = CliRunner().invoke(cli, ["capture", "--isolated", "-q", str(script)])
    assert r.exit_code == 0 and r.stdout == "tensor([[0.5000, 0.5000]])\nwritten\n"


def test_capture_script_output_redirect_is_undone_when_the_script_raises(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from smcheck.capture.runner import ScriptError, run_script

    script = tmp_path / "fails.py"
    script.write_text("import sys\nprint('before')\nsys.stdout.write('w')\nraise ValueError\n")
    stdout = sys.stdout
    with pytest.raises(ScriptError, match="raised ValueError"):
        run_script(str(script), [], False, 8, 0, stdout_to_stderr=True)
    assert sys.stdout is stdout
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("before\nw")


def test_capture_mask_value_is_read_by_its_sign_before_the_script_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # --mask-value 777 (a softmin's logit mask) was refused as "not a finite negative number"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.py").write_text(
        "open('ran', 'w').close()\nimport torch\n"
        "torch.nn.functional.softmin(torch.tensor([[1.0, 777.0, 2.0]]), dim=-1)\n"
    )
    args = ["capture", "--isolated", "--format", "json", "--dtype", "float32"]
    r = CliRunner().invoke(cli, [*args, "--mask-value", "777", "s.py"])
    assert r.exit_code == 0, r.output
    [sentinel] = json.loads(r.stdout)["sources"][0]["input"]["sentinels"]
    assert (sentinel["value"], sentinel["detected"]) == (-777.0, "user")  # of -x, as analysed
    (tmp_path / "ran").unlink()
    r = CliRunner().invoke(cli, [*args, "--mask-value", "0", "s.py"])
    assert r.exit_code == 2 and r.stderr.startswith(
        "Error: mask value 0.0 is not a finite nonzero number; give the value the input masks "
        "with: negative for a softmax's input (e.g. -1e4), positive for a softmin's logits"
    )
    assert not (tmp_path / "ran").exists()


def test_saved_capture_takes_a_positive_mask_value_only_where_it_holds_softmin_sites(
    tmp_path: Path,
) -> None:
    # `analyze SAVED --mask-value 777` was refused as "not a finite negative number" before the
    # file was known to be a capture, whose softmin sites take a positive mask
    with smcheck.capture() as cap:
        torch.softmax(torch.tensor([[1.0, 2.0, -777.0, 3.0]]), dim=-1)
        torch.nn.functional.softmin(torch.tensor([[1.0, 2.0, 777.0, 3.0]]), dim=-1)
    both = str(cap.save(tmp_path / "both.safetensors"))
    args = ["analyze", "--format", "json", "--dtype", "float32", "--mask-value", "777"]
    r = CliRunner().invoke(cli, [*args, both])
    assert r.exit_code == 0, r.output
    sentinels = [s["input"]["sentinels"] for s in json.loads(r.stdout)["sources"]]
    assert [[(x["value"], x["detected"]) for x in s] for s in sentinels] == [
        [],  # a softmax site has no positive mask: left out
        [(-777.0, "user")],  # the softmin site's +777, in the -x it is analysed as
    ]
    with smcheck.capture() as cap:
        torch.softmax(torch.tensor([[1.0, 2.0, -777.0, 3.0]]), dim=-1)
    softmax_only = str(cap.save(tmp_path / "softmax.safetensors"))
    r = CliRunner().invoke(cli, [*args, softmax_only])
    assert r.exit_code == 2, r.output
    assert r.stderr == (
        f"Error: mask value 777.0 is positive, a softmin's logit mask, but {softmax_only!r} "
        "holds no softmin site; give the value its softmax inputs are masked with, a negative "
        "one (e.g. -777.0)\n"
    )


def test_capture_has_no_dim_or_softmin_and_a_saved_capture_refuses_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # --dim and --softmin were taken and ignored: each site keeps its own call's axis and op,
    # so capture has neither option
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.py").write_text("open('ran', 'w').close()\n" + ONE_SOFTMAX)
    for flag in (["--dim", "0"], ["--softmin"]):
        r = CliRunner().invoke(cli, ["capture", "--isolated", *flag, "s.py"])
        assert r.exit_code == 2, r.output
        assert f"Error: No such option '{flag[0]}'" in r.stderr
    assert "--dim" not in CliRunner().invoke(cli, ["capture", "--help"]).stdout
    assert not (tmp_path / "ran").exists()
    r = CliRunner().invoke(cli, ["capture", "--isolated", "-q", "--save", "c.safetensors", "s.py"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(cli, ["analyze", "--dim", "0", "c.safetensors"])
    assert r.exit_code == 2 and "Error: --dim does not apply to captured sites" in r.stderr


def test_capture_under_a_strict_config_runs_and_a_refusal_names_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `model = "strict"` in pyproject.toml made capture refuse torch, naming no file
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text('[tool.smcheck]\nmodel = "strict"\n')
    (tmp_path / "s.py").write_text("open('ran', 'w').close()\n" + ONE_SOFTMAX)
    r = CliRunner().invoke(cli, ["capture", "--format", "json", "s.py"])
    assert r.exit_code == 0, r.output
    methods = {c["method"] for c in json.loads(r.stdout)["sources"][0]["cells"]}
    assert methods == {"naive", "shifted", "logdomain"}  # the strict model's methods
    (tmp_path / "ran").unlink()
    r = CliRunner().invoke(cli, ["capture", "--method", "torch", "s.py"])
    assert r.exit_code == 2, r.output
    assert r.stderr.startswith("Error: method 'torch' has no 'strict' form")
    assert r.stderr.endswith(" (config 'pyproject.toml' sets model)\n")
    assert not (tmp_path / "ran").exists()  # refused before the script ran
    r = CliRunner().invoke(cli, ["capture", "--model", "framework", "--method", "torch", "s.py"])
    assert r.exit_code == 0, r.output  # the command line overrides the file


def test_issue18_check_refuses_a_capture_file_naming_analyze(tmp_path: Path) -> None:
    # `smcheck check run.safetensors` read a one-site capture as plain rows, without its site,
    # and told a two-site one to pick a key; its sites need analyze (they keep their formats)
    with smcheck.capture() as cap:
        torch.softmax(torch.randn(3, 5), dim=-1)
    path = str(cap.save(tmp_path / "run.safetensors"))
    r = CliRunner().invoke(cli, ["check", "--isolated", "-q", path])
    assert r.exit_code == 2, r.output
    errors = [line for line in r.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, r.stderr
    assert "capture of softmax sites" in errors[0]
    assert f"'smcheck analyze {path}'" in errors[0] and f"'{path}:site0.rows'" in errors[0]
    one_site = CliRunner().invoke(cli, ["check", "--isolated", "-q", f"{path}:site0.rows"])
    assert one_site.exit_code == 0, one_site.output  # a key reads that site's rows
    with pytest.raises(LoadError, match="capture of softmax sites"):
        smcheck.analyze(path)
    assert CliRunner().invoke(cli, ["analyze", "-q", path]).exit_code == 0


def test_capture_m_finds_a_module_in_the_working_directory_as_python_m_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pkg = tmp_path / "mypkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "evaluate.py").write_text(ONE_SOFTMAX)
    monkeypatch.chdir(tmp_path)
    before = sys.path[:]
    r = CliRunner().invoke(
        cli, ["capture", "--isolated", "--format", "json", "-m", "mypkg.evaluate"]
    )
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["sources"][0]["site"]["op"] == "softmax"
    assert sys.path == before  # the working directory is taken off the path again


def test_a_call_capture_could_not_record_is_said(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from smcheck.capture import session

    script = tmp_path / "model.py"
    script.write_text(ONE_SOFTMAX)
    monkeypatch.setattr(session.Capture, "failures", property(lambda self: ["softmax: boom"]))
    r = CliRunner().invoke(cli, ["capture", "--isolated", str(script)])
    assert "smcheck capture: a call could not be recorded: softmax: boom" in r.stderr


def test_every_option_after_the_script_is_the_scripts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # smcheck took -o, --threads, --format after SCRIPT as its own: -o overwrote a user's file
    script = tmp_path / "args.py"
    script.write_text(
        "import sys, json\nopen('argv.json', 'w').write(json.dumps(sys.argv))\n" + ONE_SOFTMAX
    )
    monkeypatch.chdir(tmp_path)
    keep = tmp_path / "keep.pt"
    keep.write_bytes(b"checkpoint")
    argv = ["-o", "keep.pt", "--threads", "2", "--format", "json", "--", "--lr"]
    r = CliRunner().invoke(cli, ["capture", "--isolated", "args.py", *argv])
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "argv.json").read_text()) == ["args.py", *argv]
    assert keep.read_bytes() == b"checkpoint" and not r.stdout.startswith("{")
    bad = CliRunner().invoke(cli, ["capture", "--bogus", "args.py"])  # before SCRIPT: smcheck's
    assert bad.exit_code == 2 and "No such option '--bogus'" in bad.stderr
    quiet = CliRunner().invoke(cli, ["capture", "--isolated", "-q", "args.py"])
    assert quiet.exit_code == 0 and quiet.stdout == ""


def test_outputs_are_named_from_where_smcheck_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "elsewhere").mkdir()
    script = tmp_path / "wander.py"
    script.write_text("import os\nos.chdir('elsewhere')\n" + ONE_SOFTMAX)
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(
        cli,
        [
            "capture",
            "--isolated",
            "-o",
            "r.json",
            "--format",
            "json",
            "--save",
            "c.st",
            "wander.py",
        ],
    )
    assert r.exit_code == 0, r.output
    assert (tmp_path / "r.json").is_file() and (tmp_path / "c.st").is_file()
    assert not (tmp_path / "elsewhere" / "r.json").exists()


def test_save_under_another_formats_name_is_refused_and_an_exit_message_is_quoted(
    tmp_path: Path,
) -> None:
    script = tmp_path / "bye.py"
    script.write_text("import sys\nsys.exit('custom message')\n")
    r = CliRunner().invoke(
        cli, ["capture", "--isolated", "--save", str(tmp_path / "x.npy"), str(script)]
    )
    assert r.exit_code == 2 and "name it *.safetensors" in r.stderr
    r = CliRunner().invoke(cli, ["capture", "--isolated", str(script)])
    assert r.exit_code == 2 and "exited with the message 'custom message'" in r.stderr


def test_capture_output_dash_is_standard_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = tmp_path / "s.py"
    script.write_text(ONE_SOFTMAX)
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(cli, ["capture", "--isolated", "--format", "json", "-o", "-", "s.py"])
    assert r.exit_code == 0 and json.loads(r.stdout)["sources"][0]["site"]["op"] == "softmax"
    assert not (tmp_path / "-").exists()
    r = CliRunner().invoke(cli, ["capture", "--isolated", "--save", "-", "s.py"])
    assert r.exit_code == 2 and "--save writes a binary .safetensors file" in r.stderr
