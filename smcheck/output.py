"""Writing reports: to stdout, or to a file replaced atomically only once complete."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from smcheck.errors import ConfigError


def write_atomic(path: str | Path, text: str | bytes) -> None:
    """Write ``text`` to a temporary file beside ``path``, then rename it into place.

    A reader never sees a half-written report, and a failed run leaves any old file intact.
    """
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    except OSError as e:
        raise ConfigError(
            f"cannot write '{path}': {e.strerror}; choose a writable --output path"
        ) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(text.encode("utf-8") if isinstance(text, str) else text)
        os.replace(tmp, target)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise ConfigError(
            f"cannot write '{path}': {e.strerror}; choose a writable --output path"
        ) from None
