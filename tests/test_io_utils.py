"""File I/O helpers: atomic writes and content digests."""

import hashlib
import os

import pytest

from arssr_core.io_utils import atomic_path, file_digest


def test_file_digest_follows_content_and_algorithm(tmp_path):
    p = tmp_path / "w.bin"
    p.write_bytes(b"weights v1")
    assert file_digest(p) == hashlib.sha256(b"weights v1").hexdigest()
    assert file_digest(p, "sha1") == hashlib.sha1(b"weights v1").hexdigest()
    st = p.stat()
    p.write_bytes(b"weights v2")  # new content (and size): a new version, never the remembered digest
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns + 1))
    assert file_digest(p) == hashlib.sha256(b"weights v2").hexdigest()


def test_atomic_path_leaves_the_old_file_when_the_writer_fails(tmp_path):
    p = tmp_path / "out.nii.gz"
    p.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(p) as tmp:
            assert tmp.name.endswith(".nii.gz")
            tmp.write_text("half")
            raise RuntimeError("writer died")
    assert p.read_text() == "old" and [q.name for q in tmp_path.iterdir()] == ["out.nii.gz"]
