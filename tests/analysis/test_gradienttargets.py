"""Target classes for the gradient check: rules, files of class indices and their errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from smcheck import analyze
from smcheck.analysis.gradienttargets import resolve_targets
from smcheck.cli import cli
from smcheck.configchecks import TARGET_RULES, normalise_targets
from smcheck.errors import ConfigError, ExitCode, LoadError
from smcheck.sources.rows import RowView
from smcheck.sources.targets import read_targets
from tests.conftest import sample_input

X = np.array([[0.0, 3.0, -2.0], [5.0, -1.0, 1.0], [1.0, 1.0, 4.0], [-3.0, 0.0, 2.0]])


def targets_of(spec: object, x: np.ndarray = X, dim: int = -1) -> np.ndarray:
    view = RowView(x, dim)
    spec = normalise_targets(spec)
    rule = isinstance(spec, str) and spec in TARGET_RULES
    t = resolve_targets(spec if rule else read_targets(spec), view)
    flat = np.moveaxis(x, dim, -1).reshape(-1, x.shape[dim])
    return t.rows(flat, 0)


def test_rules_pick_each_rows_argmax_and_argmin() -> None:
    assert targets_of("argmax").tolist() == [1, 0, 2, 2]
    assert targets_of(" ArgMin ").tolist() == [2, 1, 0, 0]
    assert targets_of(None).tolist() == [1, 0, 2, 2]


@pytest.mark.parametrize(
    ("name", "write"),
    [
        ("t.npy", lambda p: np.save(p, np.array([2, 0, 1, 1]))),
        ("t.txt", lambda p: p.write_text("2\n0\n1\n1\n")),
        ("t.csv", lambda p: p.write_text("target\n2\n0\n1\n1\n")),
        ("t.json", lambda p: p.write_text("[[2], [0], [1], [1]]")),
    ],
)
def test_index_files_of_every_kind(tmp_path: Path, name: str, write) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / name
    write(path)
    assert targets_of(str(path)).tolist() == [2, 0, 1, 1]


def test_arrays_tensors_and_lists_are_accepted() -> None:
    for spec in (np.array([2, 0, 1, 1]), torch.tensor([2, 0, 1, 1]), [2, 0, 1, 1], [2.0, 0, 1, 1]):
        assert targets_of(spec).tolist() == [2, 0, 1, 1]


def test_row_space_shape_or_flat_count() -> None:
    x = np.arange(2 * 3 * 5, dtype=np.float64).reshape(2, 3, 5)
    t = np.array([[0, 1, 2], [3, 4, 0]])
    assert targets_of(t, x).tolist() == [0, 1, 2, 3, 4, 0]
    assert targets_of(t.reshape(-1), x).tolist() == [0, 1, 2, 3, 4, 0]
    with pytest.raises(
        LoadError, match=r"\(shape 3x2\) for 6 rows .*\(row shape 2x3\); .* shape 2x3 or 6$"
    ):
        targets_of(t.reshape(3, 2), x)
    # --dim 1 on NCHW: one target per pixel, shape (N, H, W)
    seg = np.zeros((2, 4, 3, 3))
    per_pixel = np.arange(18).reshape(2, 3, 3) % 4
    assert targets_of(per_pixel, seg, dim=1).tolist() == per_pixel.reshape(-1).tolist()


def test_shape_mismatch_names_the_file_and_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "labels.npy"
    np.save(path, np.array([0, 1, 2]))
    with pytest.raises(LoadError) as e:
        targets_of(str(path))
    msg = str(e.value)
    assert msg.startswith("--targets: cannot load ")  # the option, though the file was read
    assert "labels.npy" in msg and "3 class indices" in msg and "4 rows" in msg
    assert msg.endswith("; save one class index per row, shape 4")


def test_an_index_beyond_the_row_is_out_of_range() -> None:
    with pytest.raises(
        LoadError, match=r"class index 3 at position \[2\] is out of range for rows of 3 classes"
    ):
        targets_of(np.array([0, 1, 3, 0]))


@pytest.mark.parametrize(
    ("values", "match"),
    [
        ([0, -100, 1, 0], r"index -100 at position \[1\] is negative .*ignore_index.*from 0$"),
        ([0, 1.5, 1, 0], r"value 1.5 at position \[1\] is not a class index"),
        ([0, 1, np.nan, 0], r"value nan at position \[2\] is not a class index"),
    ],
)
def test_values_that_are_no_class_index_are_refused_as_read(
    values: list[float], match: str
) -> None:
    # whatever the logits: refused by read_targets itself, before any rows are seen
    with pytest.raises(LoadError, match=match):
        read_targets(np.array(values))


def test_a_targets_file_of_booleans_is_told_to_hold_class_indices(tmp_path: Path) -> None:
    np.save(tmp_path / "t.npy", np.array([True, False, True, False]))
    with pytest.raises(LoadError, match=r"not class indices; save integer class indices"):
        analyze(X, targets=str(tmp_path / "t.npy"))
    with pytest.raises(LoadError, match=r"not class indices; save integer class indices"):
        analyze(X, targets=np.array([True, False, True, False]))  # an array, as the API takes it


def test_empty_targets_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="argmax, argmin or a file"):
        analyze(X, targets=" ")


def test_cli_bad_targets_exit_2_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "labels.txt"
    path.write_text("0\n1\n")
    r = CliRunner().invoke(
        cli, ["analyze", "--values", "1,2,3;4,5,6;7,8,9", "--targets", str(path)]
    )
    assert r.exit_code == ExitCode.ERROR, r.output
    assert r.stderr.startswith("Error: --targets: cannot load ")
    assert "2 class indices" in r.stderr and "3 rows" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    missing = CliRunner().invoke(cli, ["analyze", "--values", "1,2", "--targets", "nope.npy"])
    assert missing.exit_code == ExitCode.ERROR
    assert "no such file" in missing.stderr


def test_sample_eval_dump_confidently_wrong_rows_give_infinite_fp16_loss() -> None:
    # eval_outputs.pt: every 8th of 32 rows has target logit -30 while another class has 12;
    # p_target ~ e^-42 is 0 in float16 (below 2^-25 ~ e^-17.3), so log(p) = -inf: 4 rows
    pt = sample_input("eval_outputs.pt")
    r = analyze(f"{pt}:logits", targets=f"{pt}:targets", dtypes=["float16"])
    for c in r.cells:
        g = c.gradient
        assert g is not None and g.target == f"{pt}:targets"
        want = (4, 4, (0,)) if c.method in ("naive", "shifted") else (0, 0, None)
        assert (g.loss_inf.elements, g.loss_inf.rows, g.loss_inf.worst_row) == want, c.method


def test_targets_no_loss_reads_are_said_to_be_unused(tmp_path: Path) -> None:
    np.save(tmp_path / "t.npy", np.array([0, 1]))
    x = [[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]]
    t = str(tmp_path / "t.npy")
    kept = analyze(x, targets=t, dtypes=["float32"]).sources[0]
    assert kept.notes == [] and kept.cells[0].gradient is not None
    (note,) = analyze(x, targets=t, use="probs", dtypes=["float32"]).sources[0].notes
    assert note.startswith("the targets given are not used") and "--use loss" in note
    # the default rule is no user's choice: nothing to say
    assert analyze(x, use="probs", dtypes=["float32"]).sources[0].notes == []
    # a rule the user chose is theirs: the strict model, which has no autograd, says so
    (note,) = analyze(x, targets="argmin", model="strict", dtypes=["float32"]).sources[0].notes
    assert note.endswith("(the strict model has no autograd)")


def test_the_header_says_no_loss_is_judged_where_no_gradients_run() -> None:
    from rich.console import Console

    from smcheck.report.terminal.concise import header

    x = [[1.0, 2.0, 3.0]]
    for kw, cause in (
        ({"model": "strict"}, " under the strict model"),
        ({"gradients": False}, ": turned off"),  # by the API here: it names no CLI flag
    ):
        s = analyze(x, dtypes=["float32"], **kw).sources[0]
        con = Console(width=200, record=True)
        con.print(*header(s))
        assert f"judges probabilities, log-probabilities (no loss or gradients{cause})" in (
            con.export_text()
        )
    s = analyze(x, dtypes=["float32"]).sources[0]
    con = Console(width=200, record=True)
    con.print(*header(s))
    assert "judges probabilities, log-probabilities, loss, gradients" in con.export_text()


@pytest.mark.parametrize(
    ("kw", "cause"),
    [({"model": "strict"}, " under the strict model"), ({"gradients": False}, ": turned off")],
)
def test_markdown_and_html_say_no_loss_is_judged_where_no_gradients_run(
    kw: dict[str, object], cause: str
) -> None:
    # Markdown and HTML said "judged for loss (auto: no masks in the input)" where no cell
    # computed a loss or gradients; the terminal's header said so: all three share its words
    from smcheck.report.html.page import report_html
    from smcheck.report.markdown import report_markdown

    report = analyze([[1.0, 2.0, 3.0]], dtypes=["float32"], **kw)  # type: ignore[arg-type]
    said = (
        "use loss (auto: no masks in the input): judges probabilities, log-probabilities "
        f"(no loss or gradients{cause})"
    )
    assert f"; {said}" in report_markdown(report)
    assert f"<td>use</td><td>{said.removeprefix('use ')}</td>" in report_html(report)
