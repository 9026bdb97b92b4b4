"""smcheck's own arithmetic, compiled: fused numba kernels for the reference and the metrics.

The methods under test stay the framework's own ops; the exact reference and the metrics are
smcheck's arithmetic, and each kernel here reads a chunk once and computes all it needs in one
parallel pass over rows (docs/performance.md). Kernels compile lazily, on first use, and are
cached on disk by numba (``cache=True``: next to the module, or numba's user-wide cache
directory where that is read-only), so compiling is paid once per installation.

Every kernel module registers a warm-up (:func:`warmup`) that calls its kernels once on tiny
inputs of every signature the analysis uses; :func:`compile_all` runs them before the first
chunk, reporting "compiling kernels (first run only)" to the progress callback, which shows
it only when it takes long enough to be a compile and not a cache load. numba compiles on one
thread, so modules not yet in the cache are compiled in child processes too, on the spare CPUs.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent import futures
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from smcheck.kernels.cpu import prefer_wide_vectors

F = TypeVar("F", bound=Callable[..., Any])

prefer_wide_vectors()  # before any kernel module builds numba's CPU target

KERNEL_MODULES: tuple[str, ...] = (
    "smcheck.kernels.reference",
    "smcheck.kernels.inputs",
    "smcheck.kernels.cellmetrics",
    "smcheck.kernels.gradients",
    "smcheck.kernels.bounds",
)
"""The modules holding kernels (imported by :func:`compile_all` so their warm-ups register).
smcheck.kernels.blockrows is not one: cellmetrics imports it and its warm-up calls block_rows,
so the two compile in the same process (sent to a child of its own, blockrows made that child
the last to finish)."""

COMPILE_COST: dict[str, float] = {
    "smcheck.kernels.reference": 3.0,
    "smcheck.kernels.inputs": 1.5,
    "smcheck.kernels.cellmetrics": 14.5,  # with blockrows
    "smcheck.kernels.gradients": 3.7,
    "smcheck.kernels.bounds": 1.3,
}
"""Each module's cold compile, seconds (its warm-up into an empty cache, docs/performance.md,
"Compiling"; 3 Dec 14:10-14:30 UTC, a slow hour: cellmetrics alone in the parent, the others
one after another in one process, as a child runs them): how :func:`compile_all` shares the
modules out between processes. A module missing here counts 1."""
CHILD_START = 0.5
"""Seconds a child process takes to start (Python, numpy, numba) before it compiles."""

COMPILE_TASK = "compiling kernels (first run only)"

_warmups: list[Callable[[], None]] = []
_kernels: dict[str, list[Any]] = {}  # module name: the kernels it defines
_compiled = False

BLOCKS_PER_THREAD = 2
"""Row blocks per thread and launch, handed out as threads free up: a thread slowed by other
work on its core takes fewer (docs/performance.md, "Threads on a shared machine")."""


def kernel(fn: F) -> F:
    """numba's ``njit`` as smcheck uses it: cached on disk, no GIL, IEEE semantics.

    ``fastmath`` stays off (the kernels measure rounding; reassociation would change it) and
    ``error_model="numpy"`` makes x/0 an inf or NaN instead of an exception. Every kernel is
    serial: :func:`run_blocks` runs one on blocks of rows in parallel.
    """
    import numba

    compiled = numba.njit(cache=True, nogil=True, error_model="numpy")(fn)
    try:  # numba's private API, as _cached's; where it moved, numba's own key stays
        index = compiled._cache._cache_file
        index._source_stamp = (index._source_stamp, sources_digest())
    except AttributeError:
        pass
    _kernels.setdefault(fn.__module__, []).append(compiled)
    return compiled  # type: ignore[no-any-return]


@functools.cache
def sources_digest() -> str:
    """A digest of every module of this package, part of each cached kernel's key: numba checks
    only the kernel's own file, so an edit to a helper it compiles in (cellterms, floatbits,
    expblock) would leave its cached machine code stale."""
    return folder_digest(os.path.dirname(__file__))


def folder_digest(folder: str) -> str:
    """sha256 of the names and bytes of the .py files in ``folder``."""
    h = hashlib.sha256()
    for name in sorted(f for f in os.listdir(folder) if f.endswith(".py")):
        with open(os.path.join(folder, name), "rb") as f:
            h.update(name.encode() + b"\0" + f.read())
    return h.hexdigest()


def warmup(fn: Callable[[], None]) -> Callable[[], None]:
    """Register ``fn`` as a module's warm-up: calls of its kernels on tiny inputs."""
    _warmups.append(fn)
    return fn


def compile_all(progress: Callable[[str, int, int], None] | None = None) -> None:
    """Compile (or load from the disk cache) every kernel, once per process.

    The modules not yet in the cache are shared out (:func:`_share_out`) between this process
    and child processes on the spare CPUs, which compile theirs into the same disk cache at the
    same time. This process then runs every warm-up as when alone, its own first: for a
    child's modules it first waits for that child, and the warm-ups load the child's work from
    the cache (or compile what a failed child left undone).
    """
    global _compiled
    if _compiled:
        return
    for name in KERNEL_MODULES:
        importlib.import_module(name)
    away: dict[str, subprocess.Popen[bytes]] = {}
    try:
        _start_children(_share_out(), away)
        order = [fn for fn in _warmups if fn.__module__ not in away]
        order += [fn for fn in _warmups if fn.__module__ in away]
        total = len(order)
        for k, fn in enumerate(order):
            if progress is not None:
                progress(COMPILE_TASK, k, total)
            if fn.__module__ in away:
                _wait(away[fn.__module__])
            fn()
    finally:  # an error or an interrupt here: the children's work is not needed
        for child in away.values():
            if child.poll() is None:
                child.kill()
                child.wait()
    if progress is not None:
        progress(COMPILE_TASK, total, total)
    _compiled = True


def _share_out() -> list[list[str]]:
    """The children's modules: those of :data:`KERNEL_MODULES` not in the cache, shared between
    this process and one child per spare CPU by the longest-processing-time rule (heaviest
    first by :data:`COMPILE_COST`, each to the least loaded; a child starts
    :data:`CHILD_START` behind). None where the kernels run on one thread (:func:`threads`) or
    all is cached."""
    spare = threads() - 1  # --threads 1: no child either
    if spare < 1:
        return []
    try:
        todo = [name for name in KERNEL_MODULES if not _cached(name)]
    except Exception:  # numba's private API changed or a cache file is unreadable: compile here
        return []
    loads, parts = [0.0] + [CHILD_START] * spare, [[] for _ in range(spare + 1)]
    for name in sorted(todo, key=lambda n: -COMPILE_COST.get(n, 1.0)):
        i = loads.index(min(loads))
        loads[i] += COMPILE_COST.get(name, 1.0)
        parts[i].append(name)
    return [part for part in parts[1:] if part]


def _cached(name: str) -> bool:
    """Whether module ``name`` is in numba's disk cache: one of its kernels has an entry for its
    file's current source (a read of index files, no compile; numba's private API, the same
    from 0.58.1). One, not all: a kernel only the tests call (``exp_many``) has none, and a
    source edit empties them all. A module without kernels counts as cached."""
    kernels = _kernels.get(name, [])
    return not kernels or any(k._cache._cache_file._load_index() for k in kernels)


CHILD_TIMEOUT = 300.0
"""Seconds to wait for a compile child before killing it and compiling its modules here: a
child that hangs (an embedding application's executable that is not a Python) costs a wait,
never the run."""


def _wait(child: subprocess.Popen[bytes]) -> None:
    """Wait for a compile child; kill it past :data:`CHILD_TIMEOUT`."""
    try:
        child.wait(timeout=CHILD_TIMEOUT)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


def _start_children(parts: list[list[str]], away: dict[str, subprocess.Popen[bytes]]) -> None:
    """One child per part, compiling its modules (:func:`_compile_here`) with this interpreter,
    this process's ``sys.path`` (so the same smcheck and nothing ahead of the standard library)
    and this environment (so numba's cache, ``NUMBA_CACHE_DIR``, is the same), its output
    discarded; each started child's modules go into ``away`` as it starts (so an interrupt
    leaves none unknown to the caller). A part whose child could not start is compiled here.
    numba writes each cache file to a temporary name and renames it into place, so a process
    never reads a half-written file, and two processes that compile a shared kernel
    (floatbits') write the same entries."""
    code = (
        "import json, sys; sys.path[:] = json.loads(sys.argv[1]); "
        "from smcheck.kernels import _compile_here; _compile_here(sys.argv[2:])"
    )
    if not sys.executable or getattr(sys, "frozen", False):  # no interpreter to run -c with
        return
    for part in parts:
        try:
            child = subprocess.Popen(
                [sys.executable, "-c", code, json.dumps(sys.path), *part],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        except OSError:
            break
        away.update(dict.fromkeys(part, child))


def _compile_here(names: list[str]) -> None:
    """A child's part of :func:`compile_all`: the warm-ups of the modules ``names``, which leave
    their kernels in numba's disk cache."""
    for name in names:
        importlib.import_module(name)
    for fn in _warmups:
        if fn.__module__ in names:
            fn()


# The kernels' threads: smcheck's own pool, not numba's parallel loops (``prange``). A serial
# kernel with the GIL released runs as fast on a block of rows, and compiles in half the time:
# numba compiles a parallel loop's body a second time, with its callees re-optimised inside it
# (docs/performance.md, "Threads on a shared machine").
_threads: int | None = None
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def max_threads() -> int:
    """The most threads the kernels run on: numba's ``NUMBA_NUM_THREADS`` (the CPUs this
    process may use, unless that variable says otherwise)."""
    import numba

    return int(numba.config.NUMBA_NUM_THREADS)


def threads() -> int:
    """The kernels' thread count: :func:`set_threads`'s, by default :func:`max_threads`."""
    return max_threads() if _threads is None else _threads


def set_threads(n: int | None) -> int | None:
    """Run the kernels on ``n`` threads (at most :func:`max_threads`), in every thread of this
    process; None: the default. Returns the setting it replaced (None: the default), to restore
    it with."""
    global _threads
    before, _threads = _threads, None if n is None else max(1, min(n, max_threads()))
    return before


def _workers() -> ThreadPoolExecutor:
    """The pool that joins a launching thread: :func:`max_threads` - 1 threads, made once."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_threads() - 1, thread_name_prefix="smcheck-kernel")
        return _pool


def _forget_pool() -> None:
    """In a forked child: the parent's pool threads do not exist there."""
    global _pool, _pool_lock
    _pool, _pool_lock = None, threading.Lock()


if hasattr(os, "register_at_fork"):  # not on Windows, which has no fork
    os.register_at_fork(after_in_child=_forget_pool)


def run_blocks(body: Callable[..., Any], rows: int, *args: Any, blocks: int = 0) -> int:
    """``body(b, lo, hi, *args)`` for each block b, rows lo to hi - 1, of ``rows`` rows, on
    :func:`threads` threads: the calling one and pool threads, each taking the next block as
    it frees up. Several threads may launch at once (each waits only for its own blocks).

    There are :data:`BLOCKS_PER_THREAD` blocks per thread (one on one thread), at most
    ``blocks`` if given (a body's per-block workspace). Returns the number of blocks. A body
    writes only its own rows' outputs (or its block's, indexed by b), so the results do not
    depend on the thread count or the order the blocks ran in.
    """
    n = threads()
    nblk = min(rows, BLOCKS_PER_THREAD * n if n > 1 else 1, blocks or rows)
    if nblk <= 1:  # on the calling thread alone
        if nblk:
            body(0, 0, rows, *args)
        return nblk
    todo, lock = iter(range(nblk)), threading.Lock()

    def work() -> None:
        while True:
            with lock:
                b = next(todo, None)
            if b is None:
                return
            body(b, b * rows // nblk, (b + 1) * rows // nblk, *args)

    helpers: list[futures.Future[None]] = []
    try:
        pool = _workers()  # extend keeps the futures made before an error
        helpers.extend(pool.submit(work) for _ in range(min(n, nblk) - 1))
    except RuntimeError:  # the interpreter is shutting down: this thread takes the rest
        pass
    try:
        work()
    finally:
        # every block is taken once work() returns: a helper not started yet has none left (it
        # may be queued behind another launch's), one started may still be writing: wait for
        # all of those before raising any error
        started = [f for f in helpers if not f.cancel()]
        futures.wait(started)
        for f in started:
            f.result()
    return nblk
