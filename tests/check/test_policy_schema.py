"""The shipped JSON Schema of [tool.smcheck] agrees with the policy parser, key by key."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

import click
import jsonschema
import pytest
from click.testing import CliRunner

from smcheck.check.policy import parse_policy
from smcheck.check.policykeys import KEYS
from smcheck.cli import cli
from smcheck.errors import ConfigError
from smcheck.threads import MAX_THREADS

SCHEMA = json.loads(CliRunner().invoke(cli, ["schema", "--policy"]).output)  # as users get it
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)

# (key, value the parser accepts, value it refuses for its type) for every key it knows
CASES: list[tuple[str, Any, Any]] = [
    ("sources", ["outputs/*.npy", "gen:normal"], 3),
    ("sources", "outputs", []),  # no source: the loader took it, then check asked for one
    ("sources", ["outputs"], ""),  # the config's folder, silently
    ("sources", ["outputs"], ["outputs", " "]),
    ("methods", ["naive", "torch"], [1]),
    ("methods", "naive,shifted", {"a": 1}),
    ("dtypes", ["bf16", "float32"], True),
    ("dtypes", "float16", [None]),
    ("temperatures", [0.7, "0.01:100:9"], [True]),
    ("temperatures", 2, [-1.0]),
    ("model", "strict", "exact"),
    ("dim", -1, 1.5),
    ("targets", "argmin", ""),
    ("use", "probs", "weights"),
    ("gradients", False, "no"),
    ("mask-value", -1e4, "-1e4"),
    ("mask_value", -65504.0, True),
    ("softmin", True, "yes"),
    ("ftz", False, 0),
    ("memory-budget", 512, 0),
    ("memory_budget", 64, "1GB"),
    ("chunk-rows", 4096, 0),
    ("chunk_rows", 1, -3),
    ("threads", 2, 0),
    ("threads", MAX_THREADS, MAX_THREADS + 1),  # the schema had no maximum
    ("fail-on", ["nan", "overflow>100", "error-ulp>8"], 5),
    ("fail_on", "never", [2]),
    ("warn-on", ["underflow", "lost-mass>1e-6"], False),
    ("warn_on", "argmax-flip,kl>1e-4", {"x": 1}),
    ("fail-on", ["never"], []),  # never turns failing off; an empty list is refused
    ("warn-on", "nan", []),
    ("fail-on", "nan, overflow", ""),  # a string of no condition is an empty list too
    ("warn-on", "nan", " , "),
    # the schema took any string for these, names the loader refuses among them
    ("methods", " Naive , lse-direct", ""),
    ("methods", ["NAIVE", ""], " "),
    ("methods", "torch,", ","),
    ("methods", ["shifted,online"], ["navie"]),
    ("methods", "logdomain", "naive torch"),
    ("dtypes", "torch.float16, BF16", ""),
    ("dtypes", ["half", "double"], [","]),
    ("dtypes", ["torch.bfloat16"], "float17"),
    ("dtypes", "f64", ["int8"]),
    ("temperatures", 1e300, float("inf")),
    ("temperatures", ["0.5"], ["0"]),
    ("temperatures", "0.5:2:3", "0.5:2:0"),
    ("temperatures", " 0.5 : 2 : 100 ", "0.5:2:101"),  # a range of at most 100
    ("temperatures", ".5, 1e-3, +2", "1,,2"),
    ("temperatures", "1_000", "nan"),
    ("fail-on", ["error-ulp>8"], ["error-ulp"]),  # a threshold needs a limit
    ("fail-on", ["fail"], ["fail>1"]),  # a verdict level takes none
    ("fail-on", ["overflow>=1e-3"], ["overflow>-1"]),  # a limit is >= 0
    ("fail-on", ["never", ""], ["never", "nan"]),  # never stands alone
    ("warn-on", "never,", "never,never"),
    ("warn-on", ["Dead_Gradients >= 2", "argmax-flips"], ["overflow>inf"]),
    ("warn-on", "kl > 1e-4, NaN", "kl,nan"),
]


def test_the_schema_names_every_key_the_parser_accepts_and_no_other() -> None:
    spelled = set(KEYS) | {k.replace("-", "_") for k in KEYS}
    assert set(SCHEMA["properties"]) == spelled
    assert SCHEMA["additionalProperties"] is False
    assert {k.replace("_", "-") for k, _, _ in CASES} == set(KEYS)  # every key has a case


@pytest.mark.parametrize(("key", "good", "bad"), CASES)
def test_the_schema_and_the_parser_agree(key: str, good: Any, bad: Any, tmp_path: Path) -> None:
    parse_policy({key: good}, "pyproject.toml [tool.smcheck]", tmp_path)  # accepted
    VALIDATOR.validate({key: good})
    with pytest.raises(ConfigError):
        parse_policy({key: bad}, "pyproject.toml [tool.smcheck]", tmp_path)
    assert not VALIDATOR.is_valid({key: bad})


def test_an_unknown_key_is_refused_by_both(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown key"):
        parse_policy({"fail-onn": ["nan"]}, "pyproject.toml", tmp_path)
    assert not VALIDATOR.is_valid({"fail-onn": ["nan"]})


@pytest.mark.parametrize("key", [k for k in KEYS if "-" in k])
def test_a_key_set_by_both_spellings_is_refused_by_both(key: str, tmp_path: Path) -> None:
    # the schema took fail-on and fail_on together, of which the loader kept the later
    value = {"fail-on": "nan", "warn-on": "nan", "mask-value": -1e4}.get(key, 8)
    table = {key: value, key.replace("-", "_"): value}
    with pytest.raises(ConfigError, match=f"sets {key} twice"):
        parse_policy(table, "smcheck.toml", tmp_path)
    assert not VALIDATOR.is_valid(table)
    VALIDATOR.validate({key: value})


@pytest.mark.parametrize(
    ("table", "valid"),
    [
        ({"mask-value": -1e4}, True),
        ({"mask_value": -1e9, "softmin": False}, True),
        ({"mask-value": 1e4, "softmin": True}, True),
        ({"mask-value": 0}, False),
        ({"mask-value": 5000}, False),
        ({"mask_value": 5000.0, "softmin": False}, False),
        ({"mask-value": -1e4, "softmin": True}, False),
        ({"mask_value": 0.0, "softmin": True}, False),
    ],
)
def test_the_schema_and_the_analysis_agree_on_the_mask_values_sign(
    table: dict[str, Any], valid: bool, tmp_path: Path
) -> None:
    # the schema took any number (0, 5000) where the analysis takes a negative one only
    # (a positive one under softmin)
    policy = parse_policy(table, "smcheck.toml", tmp_path, "smcheck.toml")
    if valid:
        policy.analysis_config()
    else:
        with pytest.raises(ConfigError, match="is not a finite (negative|positive) number"):
            policy.analysis_config()
    assert VALIDATOR.is_valid(table) == valid


def test_the_readme_policy_example_validates() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    toml = readme.split("```toml\n[tool.smcheck]\n", 1)[1].split("```", 1)[0]
    VALIDATOR.validate(tomllib.loads(toml))


def test_smcheck_schema_policy_prints_it() -> None:
    got = CliRunner().invoke(cli, ["schema", "--policy"])
    assert got.exit_code == 0 and json.loads(got.output) == SCHEMA


def test_the_schema_says_what_ftz_does_as_its_help_says() -> None:
    # it said "Flush subnormal results to zero (strict model)"; --ftz flushes subnormal inputs
    # under any model too
    (ftz,) = [p for p in cli.commands["check"].params if p.name == "ftz"]
    assert isinstance(ftz, click.Option) and ftz.help
    assert SCHEMA["properties"]["ftz"]["description"] == ftz.help


def test_the_schema_caps_threads_where_the_loader_does() -> None:
    assert SCHEMA["properties"]["threads"]["maximum"] == MAX_THREADS


TOKENS = {
    "methods": [
        "naive",
        "Shifted",
        "LSE-direct",
        "lse_direct",
        "torch",
        "x",
        "",
        " ",
        ",",
        "online",
    ],
    "dtypes": ["float16", "BF16", "torch.", "torch.half", "double", "f", "", " ", ",", "int8"],
    "temperatures": ["0.5", "2", "0", "-1", ":", " : ", "3", "101", "100", ".5", "1e-3", "inf"]
    + ["nan", ",", " ", "", "+2", "1_0", "0x1", "e5"],
    "fail-on": ["nan", "NaN", "never", "fail", "warn", "error-ulp", "kl", "dead_gradients", ">"]
    + [">=", " ", "", ",", "8", "-1", "-0", "1e-6", "inf", "x", ".5", "5.", "+1", "_", "overflow"],
}
"""Pieces of values: names in several spellings, separators, limits, numbers and junk."""


@pytest.mark.parametrize("key", TOKENS)
def test_the_schema_and_the_parser_agree_on_values_made_of_pieces(key: str, tmp_path: Path) -> None:
    # the schema took any string for methods, dtypes and temperatures, and any string with a
    # letter for conditions; a number too large for a float (1e400, or 1e-400 rounding to 0)
    # is the one thing it cannot tell (docs/ci.md)
    rnd = random.Random(0)

    def text() -> str:
        return "".join(rnd.choice(TOKENS[key]) for _ in range(rnd.randint(1, 5)))

    for _ in range(1000):
        value: Any = text() if rnd.random() < 0.5 else [text() for _ in range(rnd.randint(1, 3))]
        try:
            parse_policy({key: value}, "smcheck.toml", tmp_path)
            accepted = True
        except ConfigError:
            accepted = False
        overflows = re.search(r"e-?\d{3}", json.dumps(value))
        assert VALIDATOR.is_valid({key: value}) == accepted or overflows, value
