"""The sources of ``smcheck check``: files, globs and directories expanded to loadable specs."""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass

from smcheck.report.violations import SourceError
from smcheck.sources.loaders import EXTENSIONS, split_key


@dataclass(frozen=True)
class SourceSpec:
    """One expanded source of ``smcheck check``."""

    spec: str
    """What :func:`smcheck.sources.loaders.load_logits` is given."""
    path: str
    """The file (or ``gen:`` spec, ``-``) part, for fingerprints and annotations."""
    key: str | None = None


NOT_LOGITS = ("LICENSE", "LICENCE", "README", "NOTICE", "COPYING", "CHANGELOG", "AUTHORS")
"""A folder's documents, which a directory or glob leaves out: ``.txt`` files named so, or so and
``-``, ``_`` or ``.`` and more (``.txt`` is also a logits format, and sample_inputs/ holds a
LICENSE-mnist-data.txt beside its files). Named alone, such a file loads."""


def _document(path: str) -> bool:
    stem, ext = os.path.splitext(os.path.basename(path))
    stem = stem.upper()
    return ext.lower() == ".txt" and any(
        stem == d or stem.startswith((f"{d}-", f"{d}_", f"{d}.")) for d in NOT_LOGITS
    )


def _supported(path: str) -> bool:
    return (
        os.path.isfile(path)
        and os.path.splitext(path)[1].lower() in EXTENSIONS
        and not _document(path)
    )


def expand_sources(
    patterns: list[str] | tuple[str, ...],
) -> tuple[list[SourceSpec], list[SourceError]]:
    """Expand each pattern; one that matches nothing is a :class:`SourceError` (exit 2).

    A directory stands for its supported files (not recursive: globs such as ``dir/**/*.npy``
    recurse); a glob keeps only files with a supported extension; both leave out documents
    (:data:`NOT_LOGITS`); ``FILE:KEY`` picks an array
    from a container; ``gen:`` specs and ``-`` pass through. Order is kept, duplicates dropped.
    """
    specs: dict[str, SourceSpec] = {}
    errors: list[SourceError] = []
    for pat in patterns:
        found: list[SourceSpec] = []
        if pat == "-" or pat.startswith("gen:") or os.path.isfile(pat):
            found = [SourceSpec(pat, pat)]
        elif os.path.isdir(pat):
            names = sorted(os.listdir(pat))
            found = [SourceSpec(p, p) for n in names if _supported(p := os.path.join(pat, n))]
            if not found:
                errors.append(
                    SourceError(
                        pat,
                        f"directory '{pat}' holds no logits files ({', '.join(EXTENSIONS)}); "
                        "give the files or a glob such as 'dir/**/*.npy'",
                    )
                )
        elif glob.has_magic(pat) and not os.path.lexists(pat):
            hits = sorted(glob.glob(pat, recursive=True))
            found = [SourceSpec(p, p) for p in hits if _supported(p)]
            if not found:
                errors.append(
                    SourceError(
                        pat,
                        f"no logits files match '{pat}'; check the pattern "
                        f"(supported: {', '.join(EXTENSIONS)})",
                    )
                )
        else:
            path, key = split_key(pat)  # the loader's own FILE:KEY rule; a bad file fails on load
            found = [SourceSpec(pat, path, key)]
        for s in found:
            specs.setdefault(_identity(s), s)
    return list(specs.values()), errors


def _identity(s: SourceSpec) -> str:
    """What makes two specs one source: the file itself (``x.npy`` and ``./x.npy``) and key."""
    if s.path == "-" or s.path.startswith("gen:") or not os.path.isfile(s.path):
        return s.spec
    return f"{os.path.realpath(s.path)}\0{s.key}"
