"""A cached kernel is keyed by every module of smcheck.kernels, not only its own file: numba
checks the kernel's own source alone, so an edit to a helper compiled into it (cellterms,
floatbits, expblock) would otherwise leave the old machine code in use."""

from __future__ import annotations

import shutil
from pathlib import Path

from smcheck import kernels
from smcheck.kernels import cellmetrics


def test_every_kernels_cache_key_holds_the_package_digest() -> None:
    kernels.compile_all()
    digest = kernels.sources_digest()
    registered = [k for ks in kernels._kernels.values() for k in ks]
    assert len(registered) >= 10
    for k in registered:
        own, package = k._cache._cache_file._source_stamp
        assert package == digest, k


def test_the_digest_moves_with_any_helper_of_the_package(tmp_path: Path) -> None:
    folder = Path(kernels.__file__).parent
    copy = tmp_path / "kernels"
    shutil.copytree(folder, copy, ignore=shutil.ignore_patterns("__pycache__"))
    assert kernels.folder_digest(str(copy)) == kernels.sources_digest()
    helper = copy / "cellterms.py"
    helper.write_text(helper.read_text() + "\n# an edit\n")
    assert kernels.folder_digest(str(copy)) != kernels.sources_digest()


def test_numba_judges_a_cache_entry_by_the_whole_key() -> None:
    kernels.compile_all()
    index = cellmetrics._cell_rows._cache._cache_file
    assert index._load_index()  # the entry compile_all wrote or found
    own, package = index._source_stamp
    index._source_stamp = (own, "another package digest")
    try:
        assert index._load_index() == {}  # stale: numba compiles again
    finally:
        index._source_stamp = (own, package)
