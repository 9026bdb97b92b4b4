"""Start-up cost: analysing a literal pulls in no module beyond what its torch ops need."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

# torch's grad_outputs= shape check imports these (sympy alone is ~0.5 s of start-up); matplotlib
# is for the HTML report only
HEAVY = ("sympy", "mpmath", "torch.fx.experimental.symbolic_shapes", "torch._dynamo", "matplotlib")


def test_literal_analysis_imports_no_sympy_or_dynamo(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    code = (
        "import json, sys\n"
        "from smcheck.cli import cli\n"
        "try:\n"
        f"    cli(['analyze', '--values', '-999,1,2,5,6', '--format', 'json', '--no-progress',"
        f" '--output', {str(out)!r}], standalone_mode=False)\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n"
    )
    p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout.strip().splitlines()[-1]) == []
    # the backward pass did run: every default cell (4 methods x 4 dtypes) has a gradient, and
    # naive float16 has p[0] = exp(-999) / s = 0, so log's backward divides the seed 0 by p[0] = 0
    # (NaN) and the row sum's backward spreads it to all 5 entries; log-domain never divides by p
    cells = json.loads(out.read_text())["sources"][0]["cells"]
    assert len(cells) == 16 and all(c["gradient"]["rows_checked"] == 1 for c in cells)
    by = {(c["method"], c["dtype"]): c["gradient"] for c in cells}
    assert by[("naive", "float16")]["nan"]["elements"] == 5
    assert by[("logdomain", "float16")]["nan"]["elements"] == 0


def test_help_imports_neither_torch_nor_numpy_nor_numba_and_is_fast() -> None:
    code = (
        "import sys, time; t = time.perf_counter(); from smcheck.cli import cli; "
        "sys.argv = ['smcheck', '--help']\n"
        "try:\n    cli()\nexcept SystemExit:\n    pass\n"
        "assert not {'torch', 'numpy', 'numba', 'llvmlite', 'matplotlib'} & set(sys.modules)\n"
        "print(time.perf_counter() - t)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={"PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert float(out.stdout.strip().splitlines()[-1]) < 1.0  # target 0.3 s, measured by the bench


def test_generate_help_reads_the_generators_without_torch_or_numba() -> None:
    # its list of generators and parameters comes from config (numpy), not from the analysis
    code = (
        "import sys; from smcheck.cli import cli; sys.argv = ['smcheck', 'generate', '--help']\n"
        "try:\n    cli()\nexcept SystemExit:\n    pass\n"
        "assert not {'torch', 'numba', 'matplotlib'} & set(sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env={"PYTHONPATH": str(ROOT)}, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert "fully_masked=0" in out.stdout


def test_the_smcheck_process_freezes_the_analysis_imports_then_collects_again() -> None:
    # smcheck.cli.process: in its own process (main) the collector is paused while torch and
    # the analysis import, then frozen (their objects never traversed again) and running again
    code = (
        "import atexit, gc, sys\n"
        "from smcheck.cli import main\n"
        "atexit.register(lambda: print(gc.get_freeze_count(), gc.isenabled(),"
        " 'torch' in sys.modules))\n"
        "sys.argv = ['smcheck', 'analyze', '--values', '1,2,3', '--dtype', 'float32',"
        " '--no-gradients', '--quiet', '--no-progress']\n"
        "main()\n"
    )
    p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    frozen, enabled, torch = p.stdout.split()[-3:]
    assert int(frozen) > 100_000 and enabled == "True" and torch == "True"


def test_an_in_process_run_leaves_the_collector_alone() -> None:
    # a library call or an in-process cli(...) (tests, notebooks) is not smcheck's process
    from click.testing import CliRunner

    from smcheck.cli import cli

    before = gc.get_freeze_count()
    r = CliRunner().invoke(cli, ["analyze", "--values", "1,2,3", "--dtype", "float32", "-q"])
    assert r.exit_code == 0, r.output
    assert gc.get_freeze_count() == before and gc.isenabled()
