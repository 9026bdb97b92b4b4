"""The golden cases: CLI runs whose output must not change across refactors.

Each case is (name, argv). `python tests/golden/cases.py --update` re-records every case into
tests/golden/out/ (only do that when a change of output is intended and reviewed);
tests/cli/test_golden.py runs them all and compares byte for byte (apart from smcheck_version,
and the JSON ``environment`` block, left out: versions, CPU and threads differ per machine;
tests/test_environment.py checks it).
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

HERE = Path(__file__).parent
OUT = HERE / "out"
ROOT = HERE.parent.parent
COLUMNS = "80"
"""The width text cases are recorded at (a pipe with COLUMNS=80): the README's promise."""
SAMPLES = Path("sample_inputs")  # relative to ROOT, where the cases run: outputs name no checkout

_SAMPLES = [
    ("minus999", ["minus999.json"]),
    ("saturated", ["saturated_rows.csv"]),
    ("classifier", ["classifier_fp16_overflow.npy"]),
    ("llm", ["llm_logits.npy"]),
    ("segmentation", ["segmentation_nchw.npy", "--dim", "1"]),
    ("masked", ["masked_rows.npy"]),
    ("lmhead", ["lm_head_bf16.safetensors:logits"]),
    ("evalpt", ["eval_outputs.pt:logits"]),
    ("mnist", ["mnist_cnn_presoftmax_2500x10.npy"]),
]
_VALUES = [
    ("values-minus999", ["--values", "-999,1,2,5,6"]),
    ("values-fp16", ["--values", "1,2,3,12", "--dtype", "float16"]),
    ("values-sweep", ["--values", "11.0625,2.875,2.955,-2.45", "--temperature", "0.05,0.5,1,2"]),
    (
        "values-strict",
        [
            "--values",
            "-999,1,2,5,6;1,2,3,12,0",
            "--model",
            "strict",
            "--method",
            "naive,shifted,logdomain,lse-direct,online",
        ],
    ),
    ("values-masks", ["--values", "1,2,3;-inf,0,1;-inf,-inf,-inf;nan,1,2;inf,1,2"]),
]


def cases() -> list[tuple[str, list[str]]]:
    """Every golden case as (file stem, smcheck argv)."""
    out: list[tuple[str, list[str]]] = []
    for name, args in _SAMPLES:
        argv = ["analyze", str(SAMPLES / args[0]), *args[1:], "--no-progress"]
        out += [(f"{name}.json", [*argv, "--format", "json"]), (f"{name}.txt", argv)]
    for name, args in _VALUES:
        argv = ["analyze", *args, "--no-progress"]
        out += [(f"{name}.json", [*argv, "--format", "json"]), (f"{name}.txt", argv)]
    # -v/--details: every table, on a small input (per-value tables) and a sample
    mnist = str(SAMPLES / "mnist_cnn_presoftmax_2500x10.npy")
    for name, args in (("values-minus999", ["--values", "-999,1,2,5,6"]), ("mnist", [mnist])):
        out.append((f"{name}-details.txt", ["analyze", *args, "--no-progress", "--details"]))
    sweep = [
        "analyze",
        str(SAMPLES / "classifier_fp16_overflow.npy"),
        "--temperature",
        "0.25:4:5",
        "--no-progress",
    ]
    out += [
        ("classifier-sweep.json", [*sweep, "--format", "json"]),
        ("classifier-sweep.txt", sweep),
    ]
    check = [
        "check",
        "--isolated",
        str(SAMPLES / "minus999.json"),
        str(SAMPLES / "classifier_fp16_overflow.npy"),
        "--fail-on",
        # >=1: the raw count (a bare dead-gradient follows the verdict, which calls these NOTEs)
        "nan,dead-gradient>=1",
    ]
    for fmt in ("text", "json", "markdown", "junit", "github"):
        out.append((f"check.{fmt}", [*check, "--format", fmt]))
    return out


def run_case(argv: list[str]) -> str:
    """Run smcheck in-process from the project root as piped output does, ``COLUMNS`` wide;
    return exit code, stdout and stderr."""
    from click.testing import CliRunner

    from smcheck.cli import cli

    here = os.getcwd()
    os.chdir(ROOT)
    try:
        r = CliRunner().invoke(cli, argv, catch_exceptions=False, env={"COLUMNS": COLUMNS})
    finally:
        os.chdir(here)
    text = f"exit {r.exit_code}\n--- stdout\n{r.stdout}--- stderr\n{r.stderr}"
    # the version changes with releases, the environment with the machine
    text = re.sub(r'"smcheck_version": "[^"]*"', '"smcheck_version": "*"', text)
    return ENVIRONMENT.sub("", text)


ENVIRONMENT = re.compile(r'\n  "environment": \{\n.*?\n  \},', re.DOTALL)
"""The top-level ``environment`` object of indented JSON, with its line break."""


if __name__ == "__main__":
    if sys.argv[1:] != ["--update"]:
        sys.exit("usage: python tests/golden/cases.py --update   (re-records tests/golden/out/)")
    OUT.mkdir(exist_ok=True)
    for stem, argv in cases():
        (OUT / stem).write_text(run_case(argv), encoding="utf-8")
        print("recorded", stem)
