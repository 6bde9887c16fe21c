"""genie_gym.atomic: atomic writes replace the target whole or not at all; file_sha256 matches hashlib."""

from __future__ import annotations

import hashlib
import os
import stat

import pytest

from genie_gym.atomic import atomic_path, atomic_write_bytes, atomic_write_text, file_sha256


def _leftovers(directory):
    return sorted(p.name for p in directory.iterdir() if ".tmp" in p.name)


def test_write_bytes_and_text_replace_the_file(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    atomic_write_bytes(target, b"new bytes", fsync=True)
    assert target.read_bytes() == b"new bytes"
    text_target = tmp_path / "out.json"
    atomic_write_text(text_target, "{\"a\": \"é\"}\n")
    assert text_target.read_text(encoding="utf-8") == "{\"a\": \"é\"}\n"
    assert _leftovers(tmp_path) == []


def test_atomic_path_writes_beside_the_target_and_renames_on_success(tmp_path):
    target = tmp_path / "video.gif"
    target.write_bytes(b"old")
    old_inode = target.stat().st_ino
    with atomic_path(target, suffix=".gif") as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".video.gif.") and tmp.name.endswith(".tmp.gif")
        assert not tmp.exists(), "the temporary file is not created in advance (a hard link may be made there)"
        tmp.write_bytes(b"new")
        assert target.read_bytes() == b"old", "the target is untouched until the block ends"
    assert target.read_bytes() == b"new"
    assert target.stat().st_ino != old_inode, "the file was replaced, not rewritten in place"
    assert _leftovers(tmp_path) == []


def test_an_error_leaves_the_old_file_and_no_temporary_file(tmp_path):
    target = tmp_path / "state.pt"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="disk full"), atomic_path(target, fsync=True) as tmp:
        tmp.write_bytes(b"half a fi")
        raise RuntimeError("disk full")
    assert target.read_bytes() == b"old"
    assert _leftovers(tmp_path) == []


def test_an_error_before_anything_is_written_leaves_no_file(tmp_path):
    target = tmp_path / "new.txt"
    with pytest.raises(KeyboardInterrupt), atomic_path(target):
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_mode_sets_the_permission_bits(tmp_path):
    target = tmp_path / "rom.nes"
    atomic_write_bytes(target, b"x", mode=0o600)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    other = tmp_path / "plain.txt"
    atomic_write_text(other, "x")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(other.stat().st_mode) == 0o666 & ~umask


def test_file_sha256_equals_hashlib(tmp_path):
    data = os.urandom((1 << 22) + 12345)  # more than one read block
    path = tmp_path / "weights.bin"
    path.write_bytes(data)
    assert file_sha256(path) == hashlib.sha256(data).hexdigest()
    assert file_sha256(str(path)) == hashlib.sha256(data).hexdigest()
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert file_sha256(empty) == hashlib.sha256(b"").hexdigest()
