"""Objects of already-compressed content are stored as raw-block zstd frames: standard frames
that zstandard and the `zstd` program read back byte for byte, written without spending
compression on them. Compressible content is still compressed."""
from __future__ import annotations

import hashlib
import os
import random
import subprocess
from pathlib import Path

import pytest
import zstandard

from provision.backup import create_incremental, frames, restore_backup, verify_backup
from provision.backup import store as objects
from tests.provision.test_backup import quiet
from tests.provision.test_backup_incremental import age
from tests.services import need_program

TEXT = b"drupal node field entity render cache views block theme module hook form\n"


def cctx() -> zstandard.ZstdCompressor:
    return zstandard.ZstdCompressor(level=3)


def decoded(parts: list[bytes | memoryview]) -> bytes:
    return zstandard.ZstdDecompressor().stream_reader(b"".join(bytes(p) for p in parts)).read()


@pytest.mark.parametrize("size", [0, 1, frames.BLOCK - 1, frames.BLOCK, frames.BLOCK + 1, 3 * frames.BLOCK + 17])
def test_it_writes_raw_frames_that_zstandard_reads_back(size: int) -> None:
    data = random.Random(size).randbytes(size)
    assert decoded(frames.raw_frame(data)) == data
    # The frame says its size, as zstd's own one-shot frames do.
    assert zstandard.frame_content_size(b"".join(bytes(p) for p in frames.raw_frame(data))) == size


@pytest.mark.parametrize("sizes", [[], [5], [frames.BLOCK], [frames.BLOCK, 1], [300_000, 4 << 20, 7]])
def test_it_writes_raw_streams_of_unknown_length(sizes: list[int]) -> None:
    chunks = [random.Random(n).randbytes(n) for n in sizes]
    assert decoded(list(frames.raw_stream(iter(chunks)))) == b"".join(chunks)


def test_the_zstd_program_reads_raw_frames(tmp_path: Path) -> None:
    zstd = need_program("zstd")
    data = os.urandom(300_000)
    (tmp_path / "sized.zst").write_bytes(b"".join(bytes(p) for p in frames.raw_frame(data)))
    (tmp_path / "stream.zst").write_bytes(b"".join(bytes(p) for p in frames.raw_stream(iter([data]))))
    for name in ("sized.zst", "stream.zst"):
        out = subprocess.run([zstd, "-q", "-d", "-c", str(tmp_path / name)], capture_output=True, check=True)
        assert out.stdout == data


def test_it_tells_compressed_content_from_text() -> None:
    assert frames.incompressible(cctx(), os.urandom(200_000))
    assert not frames.incompressible(cctx(), TEXT * 3000)
    # Short content is always compressed: sampling it would cost as much as compressing it.
    assert not frames.incompressible(cctx(), os.urandom(frames.SAMPLE))
    # A text header in front of compressed content (as in many image and archive formats) does
    # not make the whole file look compressible.
    assert frames.incompressible(cctx(), TEXT * 100 + os.urandom(500_000))


def test_it_stores_random_files_raw_and_text_compressed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "sites" / "example.com"
    (site / "files").mkdir(parents=True)
    (site / "settings.php").write_text("<?php\n")
    photo = os.urandom(400_000)
    text = TEXT * 5000
    (site / "files" / "photo.jpg").write_bytes(photo)
    (site / "files" / "style.css").write_bytes(text)
    # Files over the one-call limit are streamed: the same choice is made on their first chunk.
    monkeypatch.setattr(objects, "WHOLE", 100_000)
    monkeypatch.setattr(objects, "CHUNK", 64 << 10)
    video = os.urandom(1_000_000)
    (site / "files" / "video.mp4").write_bytes(video)
    (site / "files" / "big.txt").write_bytes(text * 3)
    age(site)
    dest = tmp_path / "backups"
    result = create_incremental(domain="example.com", site_dir=site, dest_dir=dest, runner=quiet(),
                                db_driver=None, db_name=None, follow_files_symlink=True)
    store = objects.store_of(dest)

    def stored_size(content: bytes) -> int:
        with objects.Reader(store) as reader:
            return reader.stored_size(hashlib.sha256(content).hexdigest())

    assert len(photo) < stored_size(photo) < len(photo) + 64  # raw: a few bytes of framing
    assert len(video) < stored_size(video) < len(video) + 64
    assert stored_size(text) < len(text) / 10  # compressed
    assert stored_size(text * 3) < len(text) / 5
    verify_backup(result.path)
    target = tmp_path / "restored" / "example.com"
    target.parent.mkdir()
    restore_backup(result.path, target, None, None, quiet())
    for name, content in (("photo.jpg", photo), ("video.mp4", video), ("style.css", text), ("big.txt", text * 3)):
        assert (target / "files" / name).read_bytes() == content
