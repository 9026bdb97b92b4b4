"""``smcheck check`` on the command line: the step summary, --report and baseline errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

from smcheck.cli import cli


def test_step_summary_is_appended(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    summary = tmp_path / "summary.md"
    summary.write_text("# earlier step\n")
    np.save(tmp_path / "a.npy", np.array([[1.0, 2.0, 12.5]]))
    args = ["check", "a.npy", "--isolated", "--method", "naive", "--dtype", "fp16"]
    r = CliRunner(env={"GITHUB_STEP_SUMMARY": str(summary)}).invoke(cli, args)
    assert r.exit_code == 1, r.output
    text = summary.read_text()
    assert text.startswith("# earlier step\n## smcheck check")
    assert "| error | a.npy | `fail` | naive float16 T=1 |" in text


def test_report_option_validates_its_format(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(cli, ["check", "gen:spike", "--isolated", "--report", "xml=r.xml"])
    assert r.exit_code == 2 and "use FORMAT=FILE" in r.stderr


def test_baseline_errors_are_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    base = ["check", "gen:spike", "--isolated", "--dtype", "fp32", "--baseline"]
    r = CliRunner().invoke(cli, [*base, "missing.json"])
    assert r.exit_code == 2 and "create it with --write-baseline missing.json" in r.stderr
    (tmp_path / "b.json").write_text(json.dumps({"violations": []}))
    r = CliRunner().invoke(cli, [*base, "b.json"])
    assert r.exit_code == 2 and "is not a smcheck baseline" in r.stderr


def test_skip_multi_tensor_leaves_out_a_checkpoint_with_a_note(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # an .npz of several arrays (a checkpoint) given without a key failed the whole check,
    # exit 2; the pre-commit hook passes bare file names, so it blocked every such commit
    monkeypatch.chdir(tmp_path)
    np.savez(tmp_path / "ckpt.npz", w=np.ones((3, 3)), b=np.ones(3))
    np.save(tmp_path / "a.npy", np.array([[1.0, 2.0, 3.0]]))
    args = ["check", "--isolated", "--method", "naive", "--dtype", "fp16", "ckpt.npz", "a.npy"]
    r = CliRunner().invoke(cli, [*args, "--skip-multi-tensor", "--format", "json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["errors"] == [] and [s["name"] for s in doc["sources"]] == ["a.npy"]
    assert doc["notes"] == [
        "skipped ckpt.npz: it holds 2 arrays and no key (--skip-multi-tensor); "
        "to check one, give it as 'FILE:KEY'"
    ]
    r = CliRunner().invoke(cli, args)  # without the flag it is an unreadable source
    assert r.exit_code == 2 and "holds 2 arrays; add one key as 'FILE:KEY'" in r.stderr


def _with_targets(command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Result:
    """``command`` on two sources with ``--targets t.npy``, failing if any source is analysed."""
    import smcheck.api

    def no_analysis(*args: object) -> None:
        raise AssertionError("a source was analysed")

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(smcheck.api, "analyze_array", no_analysis)
    for name in ("a.npy", "b.npy"):
        np.save(tmp_path / name, np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]]))
    isolated = ["--isolated"] if command == "check" else []
    return CliRunner().invoke(cli, [command, *isolated, "a.npy", "b.npy", "--targets", "t.npy"])


@pytest.mark.parametrize("command", ["check", "analyze"])
def test_a_missing_targets_file_is_one_error_naming_the_option_before_any_source(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # check printed "ERROR DIR/a.npy  cannot load 't.npy': no such file" for every source, then
    # INCOMPLETE, as if each source were unreadable, and never named --targets
    r = _with_targets(command, tmp_path, monkeypatch)
    assert r.exit_code == 2, r.output
    assert r.stdout == ""
    assert r.stderr == "Error: --targets: cannot load 't.npy': no such file; check the path\n"


def test_a_missing_targets_file_a_config_sets_is_blamed_on_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "smcheck.toml").write_text('targets = "t.npy"\n')
    np.save(tmp_path / "a.npy", np.array([[1.0, 2.0, 3.0]]))
    r = CliRunner().invoke(cli, ["check", "a.npy"])
    assert r.exit_code == 2, r.output
    assert r.stderr.strip().splitlines() == [
        "Error: --targets: cannot load 't.npy': no such file; check the path "
        "(config 'smcheck.toml' sets targets)"
    ]


def test_check_help_says_what_its_details_show() -> None:
    # check's -v lists every violation (baselined too), one per line: no tables, as analyze's
    # "Every table" would promise
    got = " ".join(CliRunner().invoke(cli, ["check", "--help"]).output.split())
    assert "-v, --details One line per violation, the baselined ones too" in got
    assert "Every table" not in got
    analyze = " ".join(CliRunner().invoke(cli, ["analyze", "--help"]).output.split())
    assert "-v, --details Every table" in analyze


@pytest.mark.parametrize("command", ["check", "analyze"])
@pytest.mark.parametrize(
    ("values", "error"),
    [
        (
            np.array([0.5, 1.0]),
            "value 0.5 at position [0] is not a class index; "
            "save integer class indices, one per row",
        ),
        (
            np.array([-1, 0]),
            "class index -1 at position [0] is negative (ignore_index rows such as -100 are "
            "not supported: drop those rows); use class indices from 0",
        ),
    ],
    ids=["fraction", "negative"],
)
def test_targets_that_are_not_class_indices_are_one_error_naming_the_option_before_any_source(
    command: str,
    values: np.ndarray,
    error: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # check printed "NOT CHECKED good.npy  cannot load 't.npy': value 0.5 ..." for every source,
    # then INCOMPLETE; analyze printed the error without naming --targets
    np.save(tmp_path / "t.npy", values)
    r = _with_targets(command, tmp_path, monkeypatch)
    assert r.exit_code == 2, r.output
    assert r.stdout == ""
    assert r.stderr == f"Error: --targets: cannot load 't.npy': {error}\n"


def test_targets_that_do_not_fit_one_source_name_the_option_in_its_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the length and the index range depend on the source: reported per source, naming --targets
    monkeypatch.chdir(tmp_path)
    np.save(tmp_path / "fits.npy", np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]]))
    np.save(tmp_path / "long.npy", np.zeros((3, 3)))
    np.save(tmp_path / "narrow.npy", np.zeros((2, 2)))
    np.save(tmp_path / "t.npy", np.array([2, 0]))
    args = ["check", "--isolated", "fits.npy", "long.npy", "narrow.npy", "--targets", "t.npy"]
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 2, r.output
    assert "NOT CHECKED fits.npy" not in r.stdout
    assert r.stderr.splitlines() == [
        "Error: --targets: cannot load 't.npy': it holds 2 class indices (shape 2) for 3 rows "
        "of logits (row shape 3); save one class index per row, shape 3",
        "Error: --targets: cannot load 't.npy': class index 2 at position [0] is out of range "
        "for rows of 2 classes; use indices from 0 to 1",
    ]
    r = CliRunner().invoke(cli, ["analyze", "long.npy", "--targets", "t.npy"])
    assert r.exit_code == 2 and r.stderr.startswith("Error: --targets: cannot load 't.npy': ")


def test_targets_a_config_sets_that_do_not_fit_a_source_are_blamed_on_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "smcheck.toml").write_text('targets = "t.npy"\n')
    np.save(tmp_path / "a.npy", np.zeros((3, 3)))
    np.save(tmp_path / "t.npy", np.array([2, 0]))
    r = CliRunner().invoke(cli, ["check", "a.npy"])
    assert r.exit_code == 2, r.output
    assert r.stderr.strip().endswith(
        "save one class index per row, shape 3 (config 'smcheck.toml' sets targets)"
    )


def test_a_targets_file_of_several_arrays_is_one_error_naming_the_option_not_a_skipped_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("a.npy", "b.npy"):
        np.save(tmp_path / name, np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]]))
    np.savez(tmp_path / "t.npz", a=np.array([0, 1]), b=np.array([1, 0]))
    args = ["check", "--isolated", "--skip-multi-tensor", "a.npy", "b.npy", "--targets", "t.npz"]
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 2, r.output
    assert r.stdout == ""
    assert r.stderr == (
        "Error: --targets: cannot load 't.npz': it holds 2 arrays; "
        "add one key as 'FILE:KEY', one of 'a', 'b'\n"
    )


def test_a_remedy_another_one_offers_is_not_stated_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # row 0's logits and row 1's -1e9 masks both turn entirely -inf in float16 at T = 0.5: the
    # logits' remedy (float32) is one the masks' offers as its last alternative, and the nan
    # violation said it twice ("-- compute the softmax in float32; mask with ..., or compute
    # the softmax in float32")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.csv").write_text("-40000,-40001,-40002\n-1e9,-1e9,-1e9\n1,2,3\n")
    args = ["check", "--isolated", "m.csv", "--dtype", "float16", "--method", "torch"]
    r = CliRunner().invoke(cli, [*args, "--temperature", "0.5", "--fail-on", "nan"])
    assert r.exit_code == 1, r.output
    text = " ".join(r.stdout.split())
    assert text.count("compute the softmax in float32") == 1
    # below T = 1 the format's min is -inf once divided too: the mask goes on x/T
    mask = "-- mask with torch.finfo(torch.float16).min, a value float16 holds"
    assert f"{mask}, after dividing by T, or handle" in text


def test_a_targets_index_beyond_2_53_is_refused_as_such(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a text targets file's 9007199254740993 reads as ...992: the error quoted a value the file
    # does not hold ("class index 9007199254740992 ... is out of range") and said nothing of it
    monkeypatch.chdir(tmp_path)
    (tmp_path / "t.csv").write_text("0\n1\n9007199254740993\n")
    np.save(tmp_path / "a.npy", np.zeros((3, 4)))
    r = CliRunner().invoke(cli, ["analyze", "a.npy", "--targets", "t.csv"])
    assert r.exit_code == 2, r.output
    assert r.stderr == (
        "Error: --targets: cannot load 't.csv': class index 9007199254740992 at position [2,0] "
        "(as float64 reads it) is at or beyond 2^53, larger than any row; use class indices below "
        "the row length\n"
    )


@pytest.mark.parametrize(("row", "code"), [("0,-20", 1), ("0,-800", 1), ("0,-inf", 0)])
def test_saturation_gate_counts_a_lead_beyond_float64s_range(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, row: str, code: int
) -> None:
    # float32, u/2 = 2^-25: 1 - p_max = e^-20 and e^-800 (below float64's range, its rest 0:
    # the row passed) both round p_max to 1; [0, -inf] has p_max exactly 1, nothing saturates
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x.csv").write_text(row + "\n")
    args = ["check", "x.csv", "--isolated", "--dtype", "float32", "--method", "torch"]
    r = CliRunner().invoke(cli, [*args, "--fail-on", "saturation>=1"])
    assert r.exit_code == code, r.output


def test_check_says_how_many_cells_judged_no_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # every row NaN: "PASSED: no violations in 1 source (4 cells checked)" while analyze said
    # "0 OK, 4 not judged": a pass on nothing judged must say so
    monkeypatch.chdir(tmp_path)
    np.save("nan.npy", np.full((3, 4), np.nan, np.float32))
    r = CliRunner().invoke(cli, ["check", "--isolated", "nan.npy", "--fail-on", "overflow"])
    assert r.exit_code == 0, r.output
    assert "no violations in 1 source (4 cells checked, 4 on no row)" in r.output
