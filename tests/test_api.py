"""The Python API: sources of every kind, chunk-size invariance, and report structure."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

import smcheck
from smcheck import analyze
from smcheck.errors import ConfigError
from smcheck.report.json import to_json
from smcheck.report.model import Count

from .conftest import sample_input


@pytest.fixture(scope="module")
def masked_sample() -> tuple[np.ndarray, dict]:
    """The masked_rows sample plus a NaN row and a wide row, and its report in one chunk."""
    x = np.load(sample_input("masked_rows.npy"))
    x = np.concatenate(
        [
            x.reshape(-1, 8),
            np.array([[np.nan, 0, 0, 0, 0, 0, 0, 1.0]]),
            np.array([[30.0, -30, 1, 2, 3, 4, 5, 6]]),
        ]
    )
    return x, analyze(x, chunk_rows=10_000).to_dict()


@pytest.mark.parametrize("chunk_rows", [1, 3, 7])
def test_results_do_not_depend_on_chunk_size(
    masked_sample: tuple[np.ndarray, dict], chunk_rows: int
) -> None:
    x, whole = masked_sample
    assert analyze(x, chunk_rows=chunk_rows).to_dict() == whole


def test_sources_of_every_kind_agree() -> None:
    x = np.array([[0.5, -1.0, 2.0], [3.0, 3.0, -7.0]], dtype=np.float32)
    a = analyze(x, dtypes=["float16"]).to_dict()["sources"][0]["cells"]
    b = analyze(torch.from_numpy(x), dtypes=["float16"]).to_dict()["sources"][0]["cells"]
    c = analyze(x.tolist(), dtypes=["float16"]).to_dict()["sources"][0]["cells"]
    assert a == b
    # a nested list is float64; float16 rounding of these values is exact either way
    assert [cc["metrics"] for cc in a] == [cc["metrics"] for cc in c]


def test_bfloat16_tensor_is_analysed_in_its_own_precision() -> None:
    t = torch.tensor([[1.0, 2.5, -3.0]], dtype=torch.bfloat16)
    src = analyze(t).sources[0]
    assert src.dtype == "bfloat16"
    assert all(
        r.exact for r in src.input_rounding
    )  # every bf16 value is exact in all four formats...
    # ...except float16, where these small values happen to be exact too
    assert [r.dtype for r in src.input_rounding] == ["float16", "bfloat16", "float32", "float64"]


def test_input_rounding_reports_bfloat16_precision_loss() -> None:
    x = np.array([[-999.0, 1, 2, 5, 6]])
    src = analyze(x).sources[0]
    rounding = {r.dtype: r for r in src.input_rounding}
    assert rounding["bfloat16"].changed_elements == 1  # -999 -> -1000
    assert rounding["bfloat16"].max_abs_dlogp == pytest.approx(1.0)
    assert rounding["float32"].exact and rounding["float64"].exact


def test_softmin_is_softmax_of_negated_input() -> None:
    x = np.array([[1.0, 2.0, 14.0]])
    a = analyze(x, softmin=True, dtypes=["float16"]).to_dict()["sources"][0]["cells"]
    b = analyze(-x, dtypes=["float16"]).to_dict()["sources"][0]["cells"]
    assert a == b


def test_bad_options_raise_config_errors() -> None:
    with pytest.raises(ConfigError, match="unknown arithmetic model"):
        analyze([[1.0, 2.0]], model="exact")
    with pytest.raises(ConfigError, match="temperature"):
        analyze([[1.0, 2.0]], temperatures=[-1])


@pytest.mark.parametrize("key", ["dtypes", "methods", "temperatures"])
def test_an_empty_tuple_selection_is_refused_as_an_empty_list_naming_the_argument(
    key: str,
) -> None:
    # temperatures=() ran at T = 1 and dtypes=() every format: from_options reads () as an
    # option the command line left out, while [] was refused; then the refusal named no
    # argument ("give at least one dtype and one method" for an empty methods=)
    one = key.removesuffix("s")
    for empty in ((), []):
        with pytest.raises(ConfigError) as e:
            analyze([[1.0, 2.0]], **{key: empty})
        assert str(e.value).startswith(f"{key}={empty!r}: nothing to analyse: give at least one ")
        assert f"one {one}" in str(e.value) and "one dtype and one method" not in str(e.value)


def test_a_progress_that_is_no_function_is_refused_naming_it() -> None:
    # a TypeError "'int' object is not callable" came from deep inside the engine
    with pytest.raises(ConfigError, match=r"^progress=5 is not callable; give a function"):
        analyze([[1.0, 2.0]], progress=5)


def test_temperatures_in_a_list_may_be_text_as_the_temperature_flag_takes_it() -> None:
    # "0.01:100:9" alone was a log range, but ["0.01:100:9", 200] (repeated --temperature)
    # was refused as "not a positive finite number"
    cfg = smcheck.AnalysisConfig(temperatures=["0.5:2:3", 4, "8,16"])
    assert cfg.temperatures == (0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
    with pytest.raises(ConfigError, match=r"^temperatures=\['1:2:1'\]: bad temperature range"):
        analyze([[1.0, 2.0]], temperatures=["1:2:1"])


def test_a_bad_targets_file_is_named_as_the_targets_argument_not_the_flag(tmp_path: Path) -> None:
    # the API's message started "--targets:", a flag the caller never wrote
    missing = str(tmp_path / "t.npy")
    with pytest.raises(smcheck.LoadError, match=rf"^targets={missing!r}: cannot load "):
        analyze([[1.0, 2.0]], targets=missing, gradients=True)
    np.save(tmp_path / "three.npy", np.array([0, 1, 1]))  # read, but 3 indices for 1 row
    with pytest.raises(smcheck.LoadError, match=r"^targets='.*three.npy': cannot load .* 3 class"):
        analyze([[1.0, 2.0]], targets=str(tmp_path / "three.npy"), gradients=True)


def test_a_memory_budget_refusal_names_the_argument_in_bytes_not_the_flag_in_mib(
    tmp_path: Path,
) -> None:
    # "raise --memory-budget to at least 49": a flag the caller never wrote, in MiB where
    # memory_budget= takes bytes (memory_budget=49 is refused as under 1 MiB)
    budget = "more than memory_budget=1048576 allows"
    wide = np.zeros((1, 100_000), np.float32)  # 48.8 MiB of working memory for its one row
    with pytest.raises(ConfigError, match=f"{budget}; raise it to memory_budget=51380224 or more$"):
        analyze(wide, memory_budget=2**20)
    with pytest.raises(ConfigError, match=f"{budget}; generate a smaller array or raise memory_b"):
        analyze("gen:normal:shape=4000x1000", memory_budget=2**20)
    (tmp_path / "big.csv").write_text("1,2,3\n" * 100_000)  # held whole while it is parsed
    with pytest.raises(smcheck.LoadError, match="that memory_budget=1048576 allows; .* or raise m"):
        analyze(str(tmp_path / "big.csv"), memory_budget=2**20)


def test_load_logits_refuses_what_is_no_path_or_spec_naming_analyze_for_arrays() -> None:
    # smcheck.load_logits(5) raised AttributeError: 'int' object has no attribute 'startswith'
    for wrong in (5, np.zeros((2, 3))):
        with pytest.raises(ConfigError, match=r"^load_logits takes a path or a gen: spec, not a"):
            smcheck.load_logits(wrong)


def test_public_api_is_lazy_and_complete() -> None:
    for name in smcheck.__all__:
        assert getattr(smcheck, name) is not None


def test_results_do_not_depend_on_chunk_size_with_long_rows_and_temperatures() -> None:
    # rows longer than torch's parallel grain (32768) with 1-row chunks: reductions must still
    # give every row the same bits; temperatures, masks, an upstream NaN and float64 cells included
    from smcheck.sources.generators import generate_logits

    x = generate_logits("llm", shape=(5, 33000), seed=3, dtype="float32").astype(np.float64)
    x[1, :100] = -np.inf  # a masked prefix
    x[2, 7] = np.nan  # an upstream problem
    x[3] *= 9.0  # past float16's exp range, so naive overflows there
    kw = {"temperatures": [1.0, 0.3], "dtypes": ["float16", "float64"], "critical": False}
    whole = to_json(analyze(x, chunk_rows=5, **kw))
    assert ': "nan"' not in whole  # a NaN value would hide differences (NaN != NaN)
    for rows in (1, 3):
        assert to_json(analyze(x, chunk_rows=rows, **kw)) == whole, rows


def test_zero_mass_note_does_not_depend_on_chunk_size() -> None:
    # float16 rows of a top logit and 39999 zeros, each p = 1/(e^top + 39999) below 2^-25 for a
    # top from 17.5 up: the row with the most of them (row 1: row 0 has 5000 masked) is not the
    # one with the most mass (row 2, top 17.5: 39999/(e^17.5 + 39999) = 1.003e-3 > u = 2^-11)
    x = np.zeros((4, 40000))
    x[:, 0] = [18.0, 18.0, 17.5, 18.5]
    x[0, 1:5001] = -np.inf
    kw = {"dtypes": ["float16"], "methods": ["torch"], "gradients": False}
    whole = to_json(analyze(x, chunk_rows=4, **kw))
    for rows in (1, 3):
        assert to_json(analyze(x, chunk_rows=rows, **kw)) == whole, rows
    s = analyze(x, chunk_rows=1, **kw).sources[0]
    h = s.cells[0].metrics.headroom
    assert h.rounded_to_zero == Count(34999 + 3 * 39999, 4, (1,))
    assert h.rounded_to_zero_mass is not None and h.rounded_to_zero_mass.worst_row == (2,)
    assert h.rounded_to_zero_mass.max == pytest.approx(39999 / (math.exp(17.5) + 39999), rel=1e-12)
    (f,) = s.input.findings
    assert f.kind == "rounded_to_zero" and "rounds to 0 the 154996 probabilities" in f.message
    assert "in 4 rows, up to 0.1 % of the mass of row [2]:" in f.message


FAST = {"dtypes": ["float32"], "methods": ["naive"], "gradients": False}


def test_analyze_takes_a_list_of_sources(tmp_path) -> None:  # type: ignore[no-untyped-def]
    np.save(tmp_path / "a.npy", np.array([[1.0, 2.0, 3.0]]))
    many = analyze([str(tmp_path / "a.npy"), "gen:constant:shape=1x4"], **FAST)
    assert [s.name for s in many.sources] == [str(tmp_path / "a.npy"), "gen:constant:shape=1x4"]
    one = analyze(str(tmp_path / "a.npy"), **FAST)
    assert to_json(one) == to_json(analyze([str(tmp_path / "a.npy")], **FAST))
    # a nested list of numbers stays one array
    assert len(analyze([[1.0, 2.0], [3.0, 4.0]], **FAST).sources) == 1


def test_run_sources_collects_errors_only_when_asked(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from smcheck.api import run_sources
    from smcheck.config import AnalysisConfig
    from smcheck.errors import LoadError

    cfg = AnalysisConfig.from_options(**FAST)
    specs = [str(tmp_path / "missing.npy"), "gen:constant:shape=1x4"]
    errors: list = []
    report = run_sources(specs, cfg, errors=errors)
    assert [s.name for s in report.sources] == ["gen:constant:shape=1x4"]
    assert [e.source for e in errors] == [specs[0]]
    with pytest.raises(LoadError):
        run_sources(specs, cfg)


def test_a_bad_later_source_fails_before_any_analysis(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # analyze A.npy typo.npy must fail at once, not after analysing A.npy
    import smcheck.api as api
    from smcheck.config import AnalysisConfig
    from smcheck.errors import LoadError

    analysed: list = []
    monkeypatch.setattr(api, "analyze_array", lambda src, *a: analysed.append(src))
    with pytest.raises(LoadError, match="typo.npy"):
        api.run_sources(["gen:constant:shape=1x4", "typo.npy"], AnalysisConfig.from_options())
    assert analysed == []


def test_config_from_options_treats_none_and_empty_as_default() -> None:
    from smcheck.config import AnalysisConfig
    from smcheck.methods import STRICT_DEFAULT_METHODS

    assert AnalysisConfig.from_options(dtypes=(), methods=None, dim=None) == AnalysisConfig()
    strict = AnalysisConfig.from_options(model="strict", methods=())
    assert strict.methods == STRICT_DEFAULT_METHODS


def test_config_from_options_left_out_methods_under_strict_are_the_strict_ones() -> None:
    # a caller passing only the options it has (a capture's sites) got the field default,
    # torch among them, which the strict model refuses
    from smcheck.config import AnalysisConfig
    from smcheck.methods import STRICT_DEFAULT_METHODS

    assert AnalysisConfig.from_options(model="strict").methods == STRICT_DEFAULT_METHODS
    assert AnalysisConfig.from_options() == AnalysisConfig()


def test_generate_matches_the_generator_spec() -> None:
    import io

    from smcheck import api
    from smcheck.sources.loaders import load_logits

    arr = api.generate("llm", shape="2x16", seed=3)
    same = load_logits("gen:llm:shape=2x16,seed=3").array
    assert np.array_equal(arr, same)
    assert np.array_equal(np.load(io.BytesIO(api.npy_bytes(arr))), arr)
    assert api.generate("constant", shape="1x3", value=2.5).tolist() == [[2.5, 2.5, 2.5]]


def test_selections_may_be_one_name_a_string_or_dtypes_and_dim_an_integer() -> None:
    import numpy as np
    import torch

    x = [[1.0, 2.0, 3.0]]
    for dtypes in ("float16", "float16,float32", [np.float16], [torch.float16], np.float16):
        r = smcheck.analyze(x, dtypes=dtypes, methods=["torch"])
        assert {c.dtype for c in r.cells} >= {"float16"}, dtypes
    assert {
        c.temperature for c in smcheck.analyze(x, temperatures=0.7, methods=["torch"]).cells
    } == {0.7}
    r = smcheck.analyze(x, temperatures="0.5:2:3", dtypes=["float32"], methods=["torch"])
    assert sorted(c.temperature for c in r.cells) == [0.5, 1.0, 2.0]
    with pytest.raises(ConfigError, match="is not an axis"):
        smcheck.analyze(x, dim=1.5)
    with pytest.raises(ConfigError, match="dtypes holds None"):
        smcheck.analyze(x, dtypes=[None])
    assert smcheck.analyze(x, dim=np.int64(-1), dtypes=["float32"], methods=["torch"]).cells


def test_issue40_gradients_run_under_inference_mode_as_outside_it() -> None:
    # inside torch.inference_mode() the gradient checks were dropped silently (the report said
    # "no loss or gradients under --no-gradients"), and the default methods' shared
    # intermediates raised "Inference tensors do not track version counter"
    kw = {"dtypes": ["float64"], "targets": "argmin", "methods": ["shifted"], "gradients": True}
    x = [[-999.0, 1, 2, 5, 6]]
    outside = analyze(torch.tensor(x), **kw)
    assert outside.cells[0].gradient is not None
    sweep = {"temperatures": [0.5, 1.0], "gradients": True}  # default methods, critical search
    with torch.inference_mode():
        made_inside = torch.tensor(x)  # an inference tensor
        inside = analyze(made_inside, **kw)
        inside_sweep = analyze(torch.tensor(x, dtype=torch.bfloat16), **sweep)
    assert to_json(inside) == to_json(outside)
    bf16 = analyze(torch.tensor(x, dtype=torch.bfloat16), **sweep)
    assert to_json(inside_sweep) == to_json(bf16)
    assert to_json(analyze(made_inside, **kw)) == to_json(outside)  # its tensor, outside


def test_issue40_api_errors_name_dim_as_the_api_takes_it() -> None:
    # the API said "--dim 5 is out of range", a flag its caller never gave (the CLI keeps it)
    with pytest.raises(ConfigError, match=r"^dim=5 is out of range for <array> of shape \[1, 4\]"):
        analyze([[1.0, 2, 3, 4]], dim=5)


def test_issue40_a_list_with_a_spec_and_an_array_is_two_sources() -> None:
    # it was read as one ragged array: numpy's "inhomogeneous shape" text
    r = analyze(["gen:constant:shape=2x5", np.zeros((2, 4))], **FAST)
    assert [s.name for s in r.sources] == ["gen:constant:shape=2x5", "<array>"]
    assert [s.shape for s in r.sources] == [[2, 5], [2, 4]]


@pytest.mark.parametrize(
    ("source", "got"),
    [(None, "None"), ({"a": 1}, "a dict"), ([[None, 1.0]], "a list holding objects other than")],
)
def test_issue40_a_source_of_python_objects_says_what_a_source_may_be(source, got) -> None:  # type: ignore[no-untyped-def]
    # the message said "it contains pickled Python objects": nothing is unpickled here
    from smcheck.errors import LoadError

    with pytest.raises(LoadError) as e:
        analyze(source, **FAST)
    assert str(e.value).startswith(f"cannot load <array>: it is {got}")
    assert "pickled" not in str(e.value)
    assert str(e.value).endswith(
        "give a path, a gen: spec, a numpy array, a torch tensor or nested lists of numbers"
    )


def test_issue40_paths_may_be_path_objects(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # load_logits(Path(...)) raised AttributeError: 'PosixPath' object has no attribute 'startswith'
    from pathlib import Path

    np.save(tmp_path / "a.npy", np.array([[1.0, 2.0, 3.0]]))
    assert smcheck.load_logits(Path(tmp_path / "a.npy")).array.tolist() == [[1.0, 2.0, 3.0]]
    r = analyze([Path(tmp_path / "a.npy")], **FAST)
    assert [s.name for s in r.sources] == [str(tmp_path / "a.npy")]
