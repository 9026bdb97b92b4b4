"""The kernels' threads (smcheck.kernels.run_blocks): every row in exactly one block, the count
smcheck.kernels.set_threads gives, launches from several threads at once, errors raised after
every block has ended, and a forked child that still runs the kernels."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest

from smcheck import kernels
from smcheck.kernels.reference import softmax64


@pytest.fixture
def restore_threads() -> Iterator[None]:
    before = kernels._threads
    yield
    kernels.set_threads(before)


def _blocks(rows: int) -> list[tuple[int, int, int, int]]:
    seen: list[tuple[int, int, int, int]] = []
    lock = threading.Lock()

    def body(b: int, lo: int, hi: int, tag: int) -> None:
        time.sleep(0.002)  # long enough for every pool thread to take a block
        with lock:
            seen.append((b, lo, hi, threading.get_ident()))

    n = kernels.run_blocks(body, rows, 0)
    assert sorted(s[0] for s in seen) == list(range(n))
    return sorted(seen)


@pytest.mark.parametrize("rows", [0, 1, 2, 3, 7, 64])
def test_every_row_is_in_exactly_one_block(rows: int, restore_threads: None) -> None:
    for n in range(1, kernels.max_threads() + 1):
        kernels.set_threads(n)
        seen = _blocks(rows)
        covered = [i for _, lo, hi, _ in seen for i in range(lo, hi)]
        assert covered == list(range(rows))
        want = min(rows, 1 if n == 1 else kernels.BLOCKS_PER_THREAD * n)
        assert len(seen) == want
        assert all(hi > lo for _, lo, hi, _ in seen)


def test_one_thread_runs_on_the_caller_and_two_on_two(restore_threads: None) -> None:
    kernels.set_threads(1)
    assert {s[3] for s in _blocks(64)} == {threading.get_ident()}
    if kernels.max_threads() == 1:
        pytest.skip("one CPU: no second thread to see")
    kernels.set_threads(2)
    used: set[int] = set()
    other = threading.Event()

    def body(b: int, lo: int, hi: int) -> None:
        used.add(threading.get_ident())
        if threading.get_ident() != caller:
            other.set()
        other.wait(10)  # every block waits until a second thread has taken one: no race

    caller = threading.get_ident()
    kernels.run_blocks(body, 64)
    assert caller in used and len(used) == 2


def test_an_error_in_a_block_is_raised_once_no_block_is_running(restore_threads: None) -> None:
    kernels.set_threads(kernels.max_threads())
    started: list[int] = []
    ended: list[int] = []

    def body(b: int, lo: int, hi: int) -> None:
        started.append(b)
        if b == 0:
            raise ValueError("block 0")
        time.sleep(0.01)
        ended.append(b)

    with pytest.raises(ValueError, match="block 0"):
        kernels.run_blocks(body, 64)
    # every block that started has ended (none still writing), and none starts afterwards
    at_raise = sorted(started)
    assert sorted(ended) == [b for b in at_raise if b != 0]
    time.sleep(0.05)
    assert sorted(started) == at_raise


def test_kernels_launched_from_several_threads_at_once_give_each_its_result() -> None:
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal((33, 500)) * s for s in (1, 5, 30)]
    want = [softmax64(x) for x in xs]
    bad: list[int] = []

    def work(k: int) -> None:
        for _ in range(20):
            got = softmax64(xs[k])
            if not all(np.array_equal(a, b) for a, b in zip(got, want[k], strict=True)):
                bad.append(k)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert bad == []


def test_set_threads_returns_the_setting_using_threads_restores(restore_threads: None) -> None:
    from smcheck.threads import using_threads

    kernels.set_threads(None)
    assert kernels.set_threads(1) is None and kernels.set_threads(None) == 1
    with using_threads(1):
        assert kernels.threads() == 1
    assert kernels._threads is None  # the default again, not the count it resolved to


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
@pytest.mark.filterwarnings("ignore:.*multi-threaded.*:DeprecationWarning")  # Python 3.12+
def test_a_forked_child_runs_the_kernels(restore_threads: None) -> None:
    kernels.set_threads(kernels.max_threads())
    x = np.random.default_rng(1).standard_normal((16, 100))
    want = softmax64(x)[1]  # the parent's pool exists now
    pid = os.fork()
    if pid == 0:  # the child: its pool threads must be made anew, or this would hang
        ok = np.array_equal(softmax64(x)[1], want)
        os._exit(0 if ok else 1)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            assert os.waitstatus_to_exitcode(status) == 0
            return
        time.sleep(0.05)
    os.kill(pid, 9)
    pytest.fail("the forked child hung running a kernel")
