"""AnalysisConfig and Thresholds refuse a value of the wrong kind with one sentence, however
it is given (the API, the CLI and config files share these checks)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

import smcheck
from smcheck.config import AnalysisConfig, Thresholds, parse_temperatures
from smcheck.errors import ConfigError

X = [[1.0, 2, 3, 12]]


@pytest.mark.parametrize("name", ["softmin", "ftz", "gradients", "critical"])
@pytest.mark.parametrize("value", ["no", 1, 0.0, "False"])
def test_issue40_flags_take_only_booleans(name: str, value: Any) -> None:
    # softmin="no" analysed softmax(-x) and wrote "softmin": "no" into the JSON;
    # gradients="no" computed gradients
    automatic = name in ("gradients", "critical")
    allowed = "True, False or None (automatic)" if automatic else "True or False"
    with pytest.raises(ConfigError) as e:
        smcheck.analyze(X, dtypes=["float16"], **{name: value})
    assert str(e.value) == f"{name} must be {allowed}, not {value!r}"
    assert e.value.options == (name,)


def test_flags_keep_booleans_and_numpy_booleans() -> None:
    cfg = AnalysisConfig(softmin=np.True_, gradients=None, critical=np.False_)
    assert (cfg.softmin, cfg.gradients, cfg.critical) == (True, None, False)
    assert type(cfg.softmin) is bool


@pytest.mark.parametrize(
    ("field", "given", "stored"),
    [
        ("dtypes", "float16", ("float16",)),
        ("dtypes", "fp16,float32", ("float16", "float32")),
        ("dtypes", np.float16, ("float16",)),
        ("methods", "shifted", ("shifted",)),
        ("temperatures", 2.0, (2.0,)),
        ("temperatures", "0.5,2", (0.5, 2.0)),
        ("comparisons", "naive", ("naive",)),
    ],
)
def test_issue40_the_public_config_takes_selections_as_analyze_does(
    field: str, given: Any, stored: tuple[Any, ...]
) -> None:
    # AnalysisConfig(dtypes="float16") read the string one character at a time: "unknown dtype 'f'"
    assert getattr(AnalysisConfig(**{field: given}), field) == stored
    assert getattr(AnalysisConfig.from_options(**{field: given}), field) == stored


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"memory_budget": "512"}, "memory_budget='512' is not a number of bytes"),
        # "the memory budget must be at least 1 MiB": in bytes here, 1 would read as MiB
        ({"memory_budget": 512}, "memory_budget=512 bytes is under 1 MiB; give at least 2**20"),
        ({"memory_budget": 2.0**30}, "memory_budget=1073741824.0 is not a number of bytes"),
        ({"chunk_rows": 1.5}, "chunk_rows=1.5 is not a row count"),
        ({"chunk_rows": True}, "chunk_rows=True is not a row count"),
        ({"thresholds": {"lost_mass_u": 1}}, "thresholds={'lost_mass_u': 1} is not a smcheck.Thr"),
        ({"methods": [1]}, "methods holds 1; give method ids"),
        ({"temperatures": ["warm"]}, "temperatures=['warm']: bad temperature 'warm'; use numbers"),
        ({"mask_value": "-1e4"}, "mask_value='-1e4': mask value '-1e4' is not a finite negat"),
    ],
)
def test_issue40_values_of_the_wrong_type_are_refused_naming_the_argument(
    options: dict[str, Any], message: str
) -> None:
    # they raised TypeError ('<' not supported), AttributeError ('dict' has no 'normwise_bits')
    with pytest.raises(ConfigError) as e:
        smcheck.analyze(X, **options)
    assert str(e.value).startswith(message)


@pytest.mark.parametrize(
    ("field", "value"),
    [("log_abs_u", "4"), ("lost_mass_u", -1), ("normwise_bits", float("nan")), ("lost_mass", True)],
)
def test_issue40_thresholds_are_finite_numbers_at_least_zero(field: str, value: Any) -> None:
    # Thresholds(log_abs_u="4") failed in the analysis with a TypeError; lost_mass_u=-1 was taken
    with pytest.raises(ConfigError, match=rf"^Thresholds\.{field}=.* is not a finite number"):
        Thresholds(**{field: value})
    assert Thresholds(log_abs_u=np.float32(2), lost_mass_u=0).log_abs_u == 2.0


def test_issue40_an_unknown_option_is_refused_by_name() -> None:
    # cap.analyze(foo=1) said "AnalysisConfig.__init__() got an unexpected keyword argument"
    with pytest.raises(ConfigError, match="^there is no option 'foo'; the options are dim, "):
        AnalysisConfig.from_options(foo=1)


def test_issue40_no_temperature_is_nothing_to_analyse_and_true_is_no_temperature() -> None:
    # temperatures=[] ran at T=1 (dtypes=[] and methods=[] were refused); [True] ran at T=1
    with pytest.raises(ConfigError, match=r"^temperatures=\[\]: nothing to analyse: give at least"):
        smcheck.analyze(X, temperatures=[])
    with pytest.raises(ConfigError, match=r"^temperatures=\[True\]: temperature True is not a"):
        smcheck.analyze(X, temperatures=[True])
    assert AnalysisConfig.from_options(temperatures=()).temperatures == (1.0,)  # the CLI's unset


HUGE = 10**400  # a Python int past float64: float() raises OverflowError on it


@pytest.mark.parametrize(
    ("make", "message", "options"),
    [
        (
            lambda: Thresholds(log_abs_u=HUGE),
            "Thresholds.log_abs_u=100000...000 (401 digits) overflows float64 (beyond ±1.8e308); "
            "give e.g. 4.0",
            ("thresholds",),
        ),
        (
            lambda: AnalysisConfig(temperatures=[0.5, HUGE]),
            "temperature 100000...000 (401 digits) overflows float64 (beyond ±1.8e308); "
            "give e.g. 0.7",
            ("temperatures",),
        ),
        (
            lambda: AnalysisConfig(temperatures=HUGE),
            "temperature 100000...000 (401 digits) overflows float64 (beyond ±1.8e308); "
            "give e.g. 0.7",
            ("temperatures",),
        ),
        (
            lambda: AnalysisConfig(mask_value=-HUGE),
            "mask value -100000...000 (401 digits) overflows float64 (beyond ±1.8e308); "
            "give e.g. -1e4 (-inf is a mask already)",
            ("mask_value",),
        ),
        (
            lambda: Thresholds(lost_mass_u=10**5000),  # past the digits Python's repr writes
            "Thresholds.lost_mass_u=100000...000 (5001 digits) overflows float64 (beyond "
            "±1.8e308); give e.g. 4.0",
            ("thresholds",),
        ),
    ],
    ids=["threshold", "temperature-in-a-list", "one-temperature", "mask-value", "5001-digits"],
)
def test_an_integer_beyond_float64_is_refused_naming_the_argument(
    make: Any, message: str, options: tuple[str, ...]
) -> None:
    # each raised a bare OverflowError ("int too large to convert to float")
    with pytest.raises(ConfigError) as e:
        make()
    assert str(e.value) == message
    assert e.value.options == options


def test_repeated_temperatures_are_counted_once_in_a_string_as_in_a_list() -> None:
    # "0.1:10:60,0.1:10:60" was refused as 120 temperatures; the list of the two ran 60
    as_string = AnalysisConfig(temperatures="0.1:10:60,0.1:10:60").temperatures
    assert len(as_string) == 60
    assert AnalysisConfig(temperatures=[1.0] * 500).temperatures == (1.0,)
    assert parse_temperatures(["0.1:10:60,0.1:10:60", "0.1:10:60"]) == as_string * 3
    with pytest.raises(ConfigError, match="^120 temperatures are more than the 100"):
        AnalysisConfig(temperatures="0.1:10:60,0.2:20:60")


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        (torch.tensor([1.0, 0.5]), (0.5, 1.0)),
        (torch.tensor(0.5), (0.5,)),
        (torch.tensor([2, 1], dtype=torch.int32), (1.0, 2.0)),
        (torch.tensor([0.5], dtype=torch.bfloat16), (0.5,)),
        (np.array(0.5), (0.5,)),
        (np.array([0.5, 1.0], dtype=np.float32), (0.5, 1.0)),
        ([torch.tensor(0.5), np.array(2.0)], (0.5, 2.0)),
    ],
    ids=["tensor", "0-d-tensor", "int-tensor", "bf16-tensor", "0-d-array", "array", "in-a-list"],
)
def test_temperatures_may_be_0d_or_1d_arrays_and_tensors_of_real_numbers(
    given: Any, stored: tuple[float, ...]
) -> None:
    # torch.tensor([0.5, 1.0]) said "temperature tensor(0.5000) is not a positive finite
    # number"; torch.tensor(0.5) and np.array(0.5) "...is neither a list nor a name"
    assert AnalysisConfig(temperatures=given).temperatures == stored


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (np.array([[0.5, 1.0]]), "temperatures is a 2-D array; give a 1-D array or a list"),
        (torch.ones(1, 1, 2), "temperatures is a 3-D array; give a 1-D array or a list"),
        (torch.tensor([0.5j]), "temperatures is an array of complex64, not of real numbers"),
        (np.array([True]), "temperatures is an array of bool, not of real numbers"),
        (torch.tensor(True), "temperatures is an array of bool, not of real numbers"),
        (np.array(["0.5"]), "temperatures is an array of str, not of real numbers"),
    ],
    ids=["2-d", "3-d-tensor", "complex", "bool", "0-d-bool-tensor", "strings"],
)
def test_other_arrays_of_temperatures_are_refused_saying_why(given: Any, message: str) -> None:
    with pytest.raises(ConfigError) as e:
        AnalysisConfig(temperatures=given)
    assert str(e.value).startswith(message)
    assert e.value.options == ("temperatures",)


def test_a_mask_value_may_be_a_0d_array_or_tensor() -> None:
    # torch.tensor(-1e4) was refused as "not a finite negative number" while temperatures took
    # 0-d arrays; a meta tensor, which holds no value, is one refusal, not NotImplementedError
    for v in (np.array(-1e4), torch.tensor(-1e4)):
        assert AnalysisConfig.from_options(mask_value=v).mask_value == -1e4
    with pytest.raises(ConfigError, match="is not a finite negative number"):
        AnalysisConfig.from_options(mask_value=torch.tensor(-1e4, device="meta"))
