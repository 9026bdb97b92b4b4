"""AnalysisConfig and Thresholds refuse a value of the wrong kind with one sentence, however
it is given (the API, the CLI and config files share these checks)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import smcheck
from smcheck.config import AnalysisConfig, Thresholds
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
        ({"memory_budget": 2.0**30}, "memory_budget=1073741824.0 is not a number of bytes"),
        ({"chunk_rows": 1.5}, "chunk_rows=1.5 is not a row count"),
        ({"chunk_rows": True}, "chunk_rows=True is not a row count"),
        ({"thresholds": {"lost_mass_u": 1}}, "thresholds={'lost_mass_u': 1} is not a smcheck.Thr"),
        ({"methods": [1]}, "methods holds 1; give method ids"),
        ({"temperatures": ["warm"]}, "temperatures=['warm']: temperature 'warm' is not a posi"),
        ({"mask_value": "-1e4"}, "mask value '-1e4' is not a finite negative number"),
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
    with pytest.raises(ConfigError, match="^nothing to analyse: give at least one temperature"):
        smcheck.analyze(X, temperatures=[])
    with pytest.raises(ConfigError, match=r"^temperatures=\[True\]: temperature True is not a"):
        smcheck.analyze(X, temperatures=[True])
    assert AnalysisConfig.from_options(temperatures=()).temperatures == (1.0,)  # the CLI's unset
