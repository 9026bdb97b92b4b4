"""The golden cases: CLI runs whose output must not change across refactors.

Each case is (name, argv). `python tests/golden/cases.py --update` re-records every case into
tests/golden/out/ (only do that when a change of output is intended and reviewed);
tests/cli/test_golden.py runs them all and compares them with the recording, exactly but for
last-bit float noise (tests/golden/compare.py), apart from smcheck_version and the JSON
``environment`` block, left out: versions, CPU and threads differ per machine;
tests/test_environment.py checks it.

Both record in a child process with the vector code pinned (``pinned_env``), so that Intel and
AMD CPUs with AVX2, AVX-512 or not, compute the same bits; warnings are errors there, as they
are under pytest.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
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


CAPABILITY = "AVX2"
"""The torch kernel level the goldens are recorded at (``torch.backends.cpu``'s name)."""


def pinned_env() -> dict[str, str]:
    """The variables that make the cases' vector code the same on every x86 CPU with AVX2.

    torch's CPU kernels are vectorised per ISA (Sleef's exp among them): its AVX-512 and AVX2
    kernels round a float64 softmax apart, so the framework cells' measured errors differ by
    CPU; ``ATEN_CPU_CAPABILITY`` lowers the dispatch to AVX2. numpy's
    AVX-512 loops of float64 exp/log/log1p/expm1 round a last bit apart from the loops it
    runs below AVX-512 (the exact losses, the temperature sweep);
    ``NPY_DISABLE_CPU_FEATURES`` turns off those this numpy dispatches to. torch's float32
    and float64 exp and log call MKL's vector math, whose code path depends on the CPU's maker
    and ISA, not on torch's capability: an Intel Xeon with AVX-512 rounded naive float32's
    exp apart from the AMD EPYC that recorded these cases (the float32 and float64 cells' ulp
    histograms and KL moved); ``MKL_CBWR=COMPATIBLE``, MKL's cross-CPU reproducible mode,
    gives the recording's bits on that Xeon. All three are read when the libraries load, hence
    the child process. ``python tests/golden/noise.py`` measures what each pin holds off.
    """
    try:
        from numpy._core._multiarray_umath import __cpu_dispatch__
    except ImportError:  # numpy 1.x
        from numpy.core._multiarray_umath import __cpu_dispatch__
    avx512 = [f for f in __cpu_dispatch__ if f.startswith("AVX512") or f == "X86_V4"]
    return {
        "ATEN_CPU_CAPABILITY": CAPABILITY.lower(),
        "NPY_DISABLE_CPU_FEATURES": " ".join(avx512),
        "MKL_CBWR": "COMPATIBLE",
    }


def record(dest: Path, stems: list[str] | None = None, pins: dict[str, str] | None = None) -> str:
    """Record the cases named ``stems`` (all by default) into ``dest`` in a child process with
    ``pins`` (default ``pinned_env()``); return the torch kernel level the child ran at."""
    env = {**os.environ, **(pinned_env() if pins is None else pins)}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    argv = [
        sys.executable,
        "-W",
        "error",
        str(Path(__file__).resolve()),
        "--record",
        str(dest),
        *(stems or []),
    ]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, cwd=ROOT, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"recording the golden cases failed:\n{done.stderr[-4000:]}")
    return done.stdout.splitlines()[-1]


def _record_here(dest: Path, stems: list[str]) -> None:
    """The child's side of ``record``: run the cases, print the torch kernel level last."""
    import torch

    dest.mkdir(parents=True, exist_ok=True)
    for stem, argv in cases():
        if not stems or stem in stems:
            (dest / stem).write_text(run_case(argv), encoding="utf-8")
    print(torch.backends.cpu.get_cpu_capability())


if __name__ == "__main__":
    if sys.argv[1:2] == ["--record"] and len(sys.argv) > 2:
        _record_here(Path(sys.argv[2]), sys.argv[3:])
    elif sys.argv[1:] == ["--update"]:
        with tempfile.TemporaryDirectory() as tmp:
            level = record(Path(tmp))
            if level != CAPABILITY:
                sys.exit(f"torch ran at {level}, not {CAPABILITY}: record on a CPU with AVX2")
            OUT.mkdir(exist_ok=True)
            for stem, _ in cases():
                shutil.copyfile(Path(tmp) / stem, OUT / stem)
                print("recorded", stem)
    else:
        sys.exit("usage: python tests/golden/cases.py --update   (re-records tests/golden/out/)")
