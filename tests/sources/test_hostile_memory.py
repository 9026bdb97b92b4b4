"""Small files that describe huge arrays: every read path stays within the memory budget.

Each builder writes a hostile input (sparse, so nothing large reaches the disk) and names the
command line that reads it. The command runs as a child process under a watchdog that kills
it past a hard cap, and the child reports its own peak resident set (VmHWM) as it exits. Each
case must exit 2 with exactly one ``Error:`` line, or succeed, within the fixed cost of a
trivial run plus a few budgets -- and leave every input as it was.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import selected_params

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/status").exists(), reason="reads peak memory from /proc (Linux)"
)

BUDGET_MIB = 16
"""--memory-budget of every case: a blind read of any of these inputs is 4 to 60000x this."""

BOUND_BUDGETS = 4
"""Allowed peak: the fixed cost of a trivial run plus this many budgets."""

KILL_ABOVE = 1024 * 2**20
"""The watchdog kills a child this far above the fixed cost (a regression must not take the
machine's memory with it)."""

GIB = 2**30

_CHILD = """
import atexit, sys
_peak_file = sys.argv.pop(1)

def _report_peak():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                with open(_peak_file, "w") as out:
                    out.write(line.split()[1])

atexit.register(_report_peak)
from smcheck.cli import cli
cli(sys.argv[1:], prog_name="smcheck")
"""


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    peak: int
    """Bytes: the child's VmHWM (0 when it was killed before reporting)."""
    killed: bool


def _rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def run_smcheck(
    args: list[str], tmp: Path, stdin: object = subprocess.DEVNULL, timeout: float = 120
) -> Run:
    """``smcheck ARGS`` in a child process under a memory watchdog (killed past ``timeout`` s)."""
    peak_file = tmp / "peak.kib"
    peak_file.unlink(missing_ok=True)
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(peak_file), *args],
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=tmp,
    )
    killed = threading.Event()

    def watch() -> None:
        while child.poll() is None:
            if _rss(child.pid) > _fixed_cost() + KILL_ABOVE:
                killed.set()
                child.kill()
            time.sleep(0.02)

    watchdog = threading.Thread(target=watch, daemon=True)
    watchdog.start()
    out, err = child.communicate(timeout=timeout)
    watchdog.join()
    peak = int(peak_file.read_text()) * 1024 if peak_file.exists() else 0
    return Run(child.returncode, out.decode(), err.decode(), peak, killed.is_set())


_FIXED: list[int] = []


def _fixed_cost() -> int:
    return _FIXED[0] if _FIXED else 2 * GIB  # before the trivial run has been measured


@pytest.fixture(scope="module")
def fixed_cost(tmp_path_factory: pytest.TempPathFactory) -> int:
    """Peak of a trivial analysis: the interpreter, numpy, torch and smcheck themselves."""
    tmp = tmp_path_factory.mktemp("fixed")
    np.save(tmp / "tiny.npy", np.arange(6, dtype=np.float32).reshape(2, 3))
    run = run_smcheck(["analyze", "tiny.npy", *_LIGHT], tmp)
    assert run.returncode == 0, run.stderr
    _FIXED[:] = [run.peak]
    return run.peak


_LIGHT = ["--dtype", "float32", "--method", "shifted", "--no-gradients", "--format", "json"]
"""One cell, no gradients: the cheapest analysis, so a case's cost is its reading."""

_STOP_AFTER_LOADING = ["--dim", "7"]
"""An axis no case has: the run stops with a usage error right after the source is loaded, so
a case shows what loading cost without analysing gigabytes (a whole conversion at load time,
the old way, would already have happened by then)."""


# ------------------------------------------------------------------------------------ builders


def _sparse_npy(path: Path, shape: tuple[int, ...], descr: str) -> None:
    """An .npy whose data is a hole: the header, then zeros the file system does not store."""
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(
            f, {"descr": descr, "fortran_order": False, "shape": shape}
        )
        size = f.tell() + int(np.prod(shape)) * np.dtype(descr).itemsize
        f.truncate(size)


def _zip_bomb(path: Path, member_bytes: int) -> None:
    """An .npz whose one deflated member inflates to ``member_bytes`` of float64 zeros.

    One MiB of zeros is deflated once and the flushed piece repeated: deflate blocks after a
    full flush stand alone, so the member is built in milliseconds from a few MiB.
    """
    header_io = _npy_header(member_bytes // 8)
    zeros = bytes(2**20)
    piece = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = piece.compress(zeros) + piece.flush(zlib.Z_FULL_FLUSH)
    head = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = head.compress(header_io) + head.flush(zlib.Z_FULL_FLUSH)
    end = zlib.compressobj(9, zlib.DEFLATED, -15).flush()  # the final, empty block
    n_blocks = member_bytes // len(zeros)
    crc = zlib.crc32(header_io)
    for _ in range(n_blocks):
        crc = zlib.crc32(zeros, crc)
    size = len(header_io) + n_blocks * len(zeros)
    data_len = len(first) + n_blocks * len(block) + len(end)
    name = b"x.npy"
    fields = (20, 0, 8, 0, 0, crc, data_len, size)  # version, flags, deflate, time, date
    local = b"PK\x03\x04" + _le(fields, (2, 2, 2, 2, 2, 4, 4, 4)) + _le((len(name), 0), (2, 2))
    central = (
        b"PK\x01\x02"
        + _le((20,), (2,))
        + _le(fields, (2, 2, 2, 2, 2, 4, 4, 4))
        + _le((len(name), 0, 0, 0, 0, 0, 0), (2, 2, 2, 2, 2, 4, 4))
        + name
    )
    with open(path, "wb") as f:
        f.write(local + name + first)
        for _ in range(n_blocks):
            f.write(block)
        f.write(end)
        at = f.tell()
        f.write(central)
        f.write(b"PK\x05\x06" + _le((0, 0, 1, 1, len(central), at, 0), (2, 2, 2, 2, 4, 4, 2)))


def _npy_header(n: int) -> bytes:
    import io

    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": "<f8", "fortran_order": False, "shape": (n,)}
    )
    return buf.getvalue()


def _le(values: tuple[int, ...], widths: tuple[int, ...]) -> bytes:
    return b"".join(v.to_bytes(w, "little") for v, w in zip(values, widths, strict=True))


def _sparse(path: Path, size: int, head: bytes = b"") -> None:
    with open(path, "wb") as f:
        f.write(head)
        f.truncate(size)


def _sparse_safetensors(path: Path, dtype: str, shape: tuple[int, ...], itemsize: int) -> None:
    """A safetensors file of one tensor whose data is a hole; F32 data 2 bytes off alignment."""
    pad = 2 if dtype == "F32" else 0
    nbytes = int(np.prod(shape)) * itemsize
    header = {"x": {"dtype": dtype, "shape": list(shape), "data_offsets": [pad, pad + nbytes]}}
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)  # the data start itself is aligned: the offset is not
    with open(path, "wb") as f:
        f.write(len(text).to_bytes(8, "little") + text)
        f.truncate(8 + len(text) + pad + nbytes)


def _torch_save(path: Path, obj: object) -> None:
    import torch

    torch.save(obj, path)


def _expanded(path: Path) -> None:
    import torch

    _torch_save(path, torch.zeros(1, 1).expand(2**20, 2**20))  # 4 TiB described in ~1.6 KB


def _meta(path: Path) -> None:
    import torch

    _torch_save(path, {"logits": torch.empty(2**20, 2**20, device="meta")})


@dataclass
class Case:
    build: Callable[[Path], None]
    args: list[str]
    error: str = ""
    """A fragment of the one Error line; empty: the run must succeed."""
    stdin: str | None = None
    """``zero`` for /dev/zero, ``yes`` for an endless ``1,`` pipe."""
    extra: list[str] = field(default_factory=list)


def _nothing(path: Path) -> None:
    pass


CASES: dict[str, Case] = {
    "npz zip bomb (2 GiB member)": Case(
        lambda d: _zip_bomb(d / "bomb.npz", 2 * GIB), ["analyze", "bomb.npz"], "2 GiB of array"
    ),
    "stdin from /dev/zero": Case(_nothing, ["analyze", "-"], "standard input", stdin="zero"),
    "stdin endless text": Case(_nothing, ["analyze", "-"], "standard input", stdin="yes"),
    "sparse 100 GiB csv": Case(
        lambda d: _sparse(d / "big.csv", 100 * GIB, b"1,2\n"), ["analyze", "big.csv"], "100 GiB"
    ),
    "sparse 100 GiB json": Case(
        lambda d: _sparse(d / "big.json", 100 * GIB, b"[[1,"), ["analyze", "big.json"], "100 GiB"
    ),
    "one row of 16M float32": Case(
        lambda d: _sparse_npy(d / "row.npy", (1, 2**24), "<f4"),
        ["analyze", "row.npy"],
        "one row of 16777216 elements",
    ),
    "int8 npy (2 GiB as float64)": Case(
        lambda d: _sparse_npy(d / "i8.npy", (2**18, 2**10), "|i1"),
        ["analyze", "i8.npy", *_STOP_AFTER_LOADING],
        "--dim 7",
    ),
    "int16 npy": Case(
        lambda d: _sparse_npy(d / "i16.npy", (2**18, 2**10), "<i2"),
        ["analyze", "i16.npy", *_STOP_AFTER_LOADING],
        "--dim 7",
    ),
    "big-endian npy": Case(
        lambda d: _sparse_npy(d / "be.npy", (2**18, 2**10), ">f4"),
        ["analyze", "be.npy", *_STOP_AFTER_LOADING],
        "--dim 7",
    ),
    "float128 npy": Case(
        lambda d: _sparse_npy(d / "f128.npy", (2**16, 2**10), np.dtype(np.longdouble).str),
        ["analyze", "f128.npy", *_STOP_AFTER_LOADING],
        "--dim 7",
    ),
    "BF16 safetensors": Case(
        lambda d: _sparse_safetensors(d / "bf16.safetensors", "BF16", (2**18, 2**10), 2),
        ["analyze", "bf16.safetensors", *_STOP_AFTER_LOADING],
        "--dim 7",
    ),
    "F8_E4M3 safetensors": Case(
        lambda d: _sparse_safetensors(d / "f8.safetensors", "F8_E4M3", (2**18, 2**10), 1),
        ["analyze", "f8.safetensors", *_STOP_AFTER_LOADING],
        "--dim 7",
    ),
    "I16 safetensors": Case(
        lambda d: _sparse_safetensors(d / "i16.safetensors", "I16", (2**18, 2**10), 2),
        ["analyze", "i16.safetensors", *_STOP_AFTER_LOADING],
        "--dim 7",
    ),
    "unaligned F32 safetensors": Case(
        lambda d: _sparse_safetensors(d / "f32.safetensors", "F32", (2**18, 2**10), 4),
        ["analyze", "f32.safetensors", *_STOP_AFTER_LOADING],
        "--dim 7",
    ),
    "stride-0 pt view of 4 TiB": Case(
        lambda d: _expanded(d / "expand.pt"), ["analyze", "expand.pt"], "stride 0 or overlapping"
    ),
    "meta-device pt": Case(lambda d: _meta(d / "meta.pt"), ["analyze", "meta.pt"], "meta-device"),
    "generate above its element limit": Case(
        _nothing, ["generate", "llm", "--shape", "200000000", "-o", "out.npy"], "200000000"
    ),
    "masked generator above its element limit": Case(
        _nothing, ["analyze", "gen:masked:shape=20000x10000"], "20000x10000"
    ),
    "generator above the budget": Case(
        _nothing, ["analyze", "gen:llm:shape=1000x1000"], "raise --memory-budget"
    ),
    "uniform generator overflowing": Case(
        _nothing, ["analyze", "gen:uniform:low=-1e308,high=1e308,dtype=float64"], "finite"
    ),
}


def _snapshot(d: Path) -> Snapshot:
    """Size, mtime and a hash of the first MiB of every file (the sparse ones are huge)."""
    out = {}
    for p in sorted(d.iterdir()):
        if p.name == "peak.kib":
            continue
        st = p.stat()
        with open(p, "rb") as f:
            out[p.name] = (st.st_size, st.st_mtime_ns, hashlib.sha256(f.read(2**20)).hexdigest())
    return out


def _run_case(case: Case, tmp: Path) -> Run:
    args = [*case.args, "--memory-budget", str(BUDGET_MIB)]
    if args[0] == "generate":
        args = case.args  # no budget option: its own element limit applies
    elif case.error == "--dim 7" or not case.error:
        args += _LIGHT
    if case.stdin == "zero":
        with open("/dev/zero", "rb") as zero:
            return run_smcheck(args, tmp, stdin=zero)
    if case.stdin == "yes":
        feeder = subprocess.Popen(
            [sys.executable, "-c", "import sys\nwhile True: sys.stdout.write('1,\\n' * 4096)"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        try:
            return run_smcheck(args, tmp, stdin=feeder.stdout)
        finally:
            feeder.kill()
            feeder.wait()
            assert feeder.stdout is not None
            feeder.stdout.close()
    return run_smcheck(args, tmp)


Snapshot = dict[str, tuple[int, int, str]]
CaseRun = tuple[Path, Snapshot, Run]
"""A case's folder, its snapshot before the run, and the run."""

CONCURRENT = 4
"""Cases run at once: a child mostly pays the interpreter's and the libraries' imports, so
children overlap well on the cores; each stays under the watchdog's cap."""


@pytest.fixture(scope="module")
def runs(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, fixed_cost: int
) -> dict[str, CaseRun]:
    """The selected cases, each built in its own folder and run, CONCURRENT at a time."""
    labels = [str(label) for label in selected_params(request, "label")]

    def one(label: str) -> CaseRun:
        tmp = tmp_path_factory.mktemp("case")
        CASES[label].build(tmp)
        before = _snapshot(tmp)
        return tmp, before, _run_case(CASES[label], tmp)

    with ThreadPoolExecutor(CONCURRENT) as pool:
        return dict(zip(labels, pool.map(one, labels), strict=True))


@pytest.mark.parametrize("label", list(CASES))
def test_hostile_input_stays_within_the_budget(
    label: str, runs: dict[str, CaseRun], fixed_cost: int
) -> None:
    case = CASES[label]
    tmp, before, run = runs[label]
    assert not run.killed, f"killed by the watchdog past {KILL_ABOVE >> 20} MiB: {run.stderr}"
    lines = run.stderr.strip().splitlines()
    assert run.returncode == 2, run.stderr
    assert len(lines) == 1 and lines[0].startswith("Error: "), run.stderr
    assert case.error in lines[0]
    bound = fixed_cost + BOUND_BUDGETS * BUDGET_MIB * 2**20
    assert 0 < run.peak <= bound, (
        f"peak {run.peak >> 20} MiB above {bound >> 20} MiB (fixed cost {fixed_cost >> 20} MiB)"
    )
    assert _snapshot(tmp) == before, "an input was changed, or a file written"


def test_check_reports_the_good_source_beside_a_meta_tensor(
    tmp_path: Path, fixed_cost: int
) -> None:
    _meta(tmp_path / "meta.pt")
    np.save(tmp_path / "good.npy", np.arange(6, dtype=np.float32).reshape(2, 3))
    args = ["check", "--isolated", "good.npy", "meta.pt", "--memory-budget", str(BUDGET_MIB)]
    run = run_smcheck([*args, *_LIGHT], tmp_path)
    assert run.returncode == 2, run.stderr
    errors = [line for line in run.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "meta.pt" in errors[0] and "meta-device" in errors[0]
    assert "Traceback" not in run.stderr
    assert [s["name"] for s in json.loads(run.stdout)["sources"]] == ["good.npy"]


def test_the_watchdog_sees_a_blind_read(tmp_path: Path, fixed_cost: int) -> None:
    # guard for the harness itself: a child that does allocate is measured (and not killed)
    big = BOUND_BUDGETS * BUDGET_MIB * 2**20 + 64 * 2**20
    run = run_smcheck(["--version"], tmp_path)
    assert run.returncode == 0 and 0 < run.peak < fixed_cost
    code = f"import numpy; numpy.ones({big}, dtype=numpy.uint8); print('ok')"
    peak_file = tmp_path / "peak.kib"
    probe = _CHILD.replace(
        'from smcheck.cli import cli\ncli(sys.argv[1:], prog_name="smcheck")', code
    )
    subprocess.run([sys.executable, "-c", probe, str(peak_file)], check=True, cwd=tmp_path)
    assert int(peak_file.read_text()) * 1024 > big
