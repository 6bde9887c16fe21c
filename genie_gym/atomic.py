"""Small file helpers: atomic writes (temporary file beside the target + ``os.replace``) and file checksums.

A reader of a file written with these helpers sees the old file or the new one, never half of one: the data goes to
a temporary file in the target's directory (``.<name>.<pid>.<random>.tmp<suffix>``, so the rename stays on one file
system and ``*.tmp`` finds leftovers) and is renamed over the target only once it is complete. On an error the
temporary file is removed and the old target is left as it was. The helpers do not create the target's directory.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_BLOCK = 1 << 22


def temporary_path(path: str | os.PathLike, suffix: str = "") -> Path:
    """A fresh name for a temporary file beside ``path`` (not created): ``.<name>.<pid>.<random>.tmp<suffix>``."""
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp{suffix}")


@contextmanager
def atomic_path(
    path: str | os.PathLike, *, fsync: bool = False, suffix: str = "", mode: int | None = None
) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` to write to; on success it replaces ``path``, on error it is removed.

    Args:
        path: the target file.
        fsync: flush the temporary file to disk before the rename.
        suffix: appended to the temporary name, for writers that pick a format by extension (``".gif"``).
        mode: permission bits given to the file before the rename (``None``: as the writer created it).
    """
    tmp = temporary_path(path, suffix)
    try:
        yield tmp
        if fsync:
            with open(tmp, "rb") as handle:
                os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_bytes(path: str | os.PathLike, data: bytes, *, fsync: bool = False, mode: int | None = None) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_path`)."""
    with atomic_path(path, fsync=fsync, mode=mode) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(
    path: str | os.PathLike, text: str, *, encoding: str = "utf-8", fsync: bool = False, mode: int | None = None
) -> None:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_path`)."""
    with atomic_path(path, fsync=fsync, mode=mode) as tmp:
        tmp.write_text(text, encoding=encoding)


def file_sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of the file at ``path``, read in 4 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()
