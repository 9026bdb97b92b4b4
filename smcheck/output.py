"""Writing reports: never onto an input; files replaced atomically, devices and FIFOs in place."""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
import sys
from collections.abc import Sequence
from pathlib import Path

from smcheck.errors import ConfigError

Input = str | int
"""An input of a run: a file path, or an open file descriptor (standard input)."""


def refuse_unsafe_outputs(outputs: Sequence[tuple[str, str]], inputs: Sequence[Input]) -> None:
    """Raise ConfigError when an output is the same file (device and inode) as an input, or two
    outputs name one file (one would replace the other).

    Args:
        outputs: (option, path) pairs, e.g. ``("-o/--output", "report.json")``.
        inputs: the run's input files as paths, or file descriptors (0 for standard input).
            Paths that do not exist, and anything but regular files, are not compared: a
            missing input fails on loading, and writing to ``/dev/null`` loses nothing.
    """
    known: dict[tuple[int, int], str] = {}
    for item in inputs:
        st = _stat(item)
        if st is not None and stat.S_ISREG(st.st_mode):
            known.setdefault((st.st_dev, st.st_ino), _shown(item))
    for option, path in outputs:
        st = _stat(path)
        if st is not None and (st.st_dev, st.st_ino) in known:
            raise ConfigError(
                f"{option} '{path}' is the same file as {known[(st.st_dev, st.st_ino)]}, an "
                "input of this run, and writing there would destroy it; choose another file"
            )
    written: dict[tuple[object, ...], tuple[str, str]] = {}
    for option, path in outputs:
        st = _stat(path)
        if st is None:  # a new file: its resolved path
            key: tuple[object, ...] = (os.path.realpath(path),)
        elif stat.S_ISREG(st.st_mode):
            key = (st.st_dev, st.st_ino)
        else:  # /dev/null and the like take any number of writes
            continue
        if key in written:
            first, where = written[key]
            raise ConfigError(
                f"{option} '{path}' is the same file as {first} '{where}': one output would "
                "replace the other; give each its own file"
            )
        written[key] = (option, path)


def _stat(item: Input) -> os.stat_result | None:
    try:
        if item == STDOUT:  # an output to standard output: what that is open on
            item = sys.stdout.fileno()
        return os.fstat(item) if isinstance(item, int) else os.stat(item)
    except (OSError, ValueError, AttributeError):  # missing, unreadable, a NUL byte; no stdout
        return None


def _shown(item: Input) -> str:
    return "standard input" if isinstance(item, int) else repr(str(item))


STDOUT = "-"
"""The output name that means standard output, as a SOURCE ``-`` means standard input."""


def check_output_path(path: str | Path, option: str | None = None, *, dash: bool = True) -> None:
    """Refuse an empty output path (``-o ''``): it names no file, and writing it fails as "Is a
    directory", which sends the user looking for a directory.

    Args:
        path: the output path as given.
        option: the option that gave it, for the message (``-o/--output``).
        dash: whether ``-`` (standard output) may be offered instead.

    Raises:
        ConfigError: the path is empty.
    """
    if str(path) == "":
        of = f" of {option}" if option else ""
        alternative = " (or - for standard output)" if dash else ""
        raise ConfigError(f"the output path{of} is empty; give a file name{alternative}")


def write_output(path: str | Path, text: str | bytes) -> None:
    """Write a report or file to ``path`` (``-``: standard output).

    A regular file (or a new one) is written to a temporary file beside it, then renamed into
    place: a reader never sees a half-written report, and a failed run leaves any old file
    intact. The new file keeps the old one's permission bits (a new file gets ``0o666`` less the
    umask, as the shell's ``>`` does); a symbolic link is followed, not replaced. Anything else
    (``/dev/null``, a FIFO, a terminal) and the file already open as this process's stdout or
    stderr are written in place: replacing a device node with a regular file would break it.

    Raises:
        ConfigError: the path cannot be written, naming it and the fix.
    """
    # a file name that is not UTF-8 reaches the text as surrogates: written as \udcff escapes,
    # so the report stays valid UTF-8 (as JSON writes them) instead of failing
    data = text.encode("utf-8", "backslashreplace") if isinstance(text, str) else text
    check_output_path(path)
    if str(path) == STDOUT:
        if sys.stdout is None:  # closed by the shell (>&-)
            raise ConfigError("standard output is closed; redirect it, or give -o a file")
        write_stdout(data)
        return
    try:
        st: os.stat_result | None = os.stat(path)
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise _cannot_write(path, e) from None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise ConfigError(f"cannot write '{path}': it is a directory; give a file path")
    try:
        if st is not None and (not stat.S_ISREG(st.st_mode) or _is_own_stream(st)):
            with open(path, "wb") as fh:
                fh.write(data)
        else:
            _replace(Path(os.path.realpath(path)), data, st)
    except OSError as e:
        raise _cannot_write(path, e) from None


def write_stdout(data: bytes) -> None:
    """All of ``data`` on standard output. On a pipe whose reader has gone, BufferedWriter.write
    takes part of a large write (65536 of 137015 bytes) and TextIOWrapper.write drops the rest
    without a word; written in a loop, the next write fails as BrokenPipeError (exit 141)."""
    sys.stdout.flush()  # the text written before, first
    out = sys.stdout.buffer
    view = memoryview(data)
    while view:
        n = out.write(view)
        if not n:  # a blocking stream takes something or raises
            raise OSError(errno.EIO, "standard output took none of the report")
        view = view[n:]
    out.flush()


def _is_own_stream(st: os.stat_result) -> bool:
    """Whether ``st`` is the file open as stdout or stderr (``-o /dev/stdout > out.txt``)."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(AttributeError, OSError, ValueError):
            if os.path.samestat(st, os.fstat(stream.fileno())):  # type: ignore[union-attr]
                return True
    return False


def _replace(target: Path, data: bytes, old: os.stat_result | None) -> None:
    """Write ``data`` beside ``target``, give it the old file's mode and owner, rename it over."""
    if old is not None and not os.access(target, os.W_OK):  # as '>' would refuse
        raise PermissionError(13, "Permission denied")
    for _ in range(100):
        tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
        try:  # 0o666: the kernel applies the umask, as for a file the shell creates
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            break
        except FileExistsError:
            continue
    else:  # pragma: no cover - 100 random names all taken
        raise FileExistsError(17, "File exists")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        if old is not None:
            if hasattr(os, "chown"):  # POSIX; only root may give a file away, others keep theirs
                with contextlib.suppress(OSError):
                    os.chown(tmp, old.st_uid, old.st_gid)
            os.chmod(tmp, stat.S_IMODE(old.st_mode))  # after chown, which may clear set-id bits
        os.replace(tmp, target)
    except BaseException:  # an interrupted write leaves no temporary file behind
        tmp.unlink(missing_ok=True)
        raise


def _cannot_write(path: str | Path, e: OSError) -> ConfigError:
    return ConfigError(f"cannot write '{path}': {e.strerror or e}; choose a writable output path")
