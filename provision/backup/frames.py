"""zstd frames for the object store: compressed, or "raw" when compressing would not pay.

Photos, videos, PDFs and archives make up most of a site's `files/` by size, and they are
compressed already: zstd would spend as much CPU on them as on text and save nothing. A sample
from the middle of each file decides. When level 3 cannot take 3% off it, the object is written
as a zstd frame of raw blocks (RFC 8878 §3.1.1.2: Block_Type 0). That is still a standard frame,
read by the same decompressor and by `zstd -d`; it costs 3 bytes per 128 KiB block."""
from __future__ import annotations

import os
from collections.abc import Iterator
from typing import IO

import zstandard

MAGIC = (0xFD2FB528).to_bytes(4, "little")
BLOCK = 128 << 10  # the largest block a frame may hold
SAMPLE = 8 << 10
MIN_SAVING = 0.03  # a sample that level 3 shrinks by less than this is taken as incompressible
# Frame header descriptor 0xE0: an 8-byte Frame_Content_Size, Single_Segment (no window
# descriptor), no checksum, no dictionary.
_SIZED = b"\xe0"
# Descriptor 0x00 and window descriptor 0x38 (2**(10+7) = 128 KiB): a frame whose size is not
# known in advance, for streams.
_UNSIZED = b"\x00\x38"


def incompressible(cctx: zstandard.ZstdCompressor, data: bytes | memoryview) -> bool:
    """Whether DATA looks already compressed, judged by compressing a slice from its middle
    (file headers are often plain metadata in front of compressed content). Short data is
    always compressed: the sample would cost as much as the whole."""
    if len(data) < 2 * SAMPLE:
        return False
    start = (len(data) - SAMPLE) // 2
    sample = memoryview(data)[start:start + SAMPLE]
    return len(cctx.compress(sample)) > SAMPLE * (1 - MIN_SAVING)


def raw_frame(data: bytes | memoryview) -> list[bytes | memoryview]:
    """DATA as one zstd frame of raw blocks, in pieces for os.writev (no copy of DATA)."""
    view = memoryview(data)
    parts: list[bytes | memoryview] = [MAGIC + _SIZED + len(view).to_bytes(8, "little")]
    if not view:
        parts.append(_block_header(0, last=True))
    for start in range(0, len(view), BLOCK):
        block = view[start:start + BLOCK]
        parts.append(_block_header(len(block), last=start + BLOCK >= len(view)))
        parts.append(block)
    return parts


def raw_stream(chunks: Iterator[bytes]) -> Iterator[bytes | memoryview]:
    """The pieces of one raw-block frame holding CHUNKS, whose total is not known ahead: every
    block is written as not last, and an empty last block ends the frame."""
    yield MAGIC + _UNSIZED
    for chunk in chunks:
        view = memoryview(chunk)
        for start in range(0, len(view), BLOCK):
            block = view[start:start + BLOCK]
            yield _block_header(len(block), last=False)
            yield block
    yield _block_header(0, last=True)


def _block_header(size: int, *, last: bool) -> bytes:
    # Last_Block (bit 0), Block_Type (bits 1-2, 0 = raw), Block_Size (bits 3-23).
    return ((size << 3) | int(last)).to_bytes(3, "little")


_SKIPPABLE = range(0x184D2A50, 0x184D2A60)


def frame_length(handle: IO[bytes], offset: int, end: int) -> int | None:
    """The length of the zstd frame at OFFSET in HANDLE (a pack, END bytes long), read from its
    headers (RFC 8878 §3.1.1) without decompressing it; None when no whole frame starts there.
    Used to index a pack again when its .idx is lost."""
    def read(at: int, size: int) -> bytes:
        data = os.pread(handle.fileno(), size, at) if at + size <= end else b""
        if len(data) != size:
            raise EOFError
        return data

    try:
        magic = int.from_bytes(read(offset, 4), "little")
        if magic in _SKIPPABLE:
            return 8 + int.from_bytes(read(offset + 4, 4), "little")
        if magic != 0xFD2FB528:
            return None
        descriptor = read(offset + 4, 1)[0]
        single_segment = bool(descriptor & 0x20)
        checksum = 4 if descriptor & 0x04 else 0
        dictionary = (0, 1, 2, 4)[descriptor & 0x03]
        content_size = (1 if single_segment else 0, 2, 4, 8)[descriptor >> 6]
        at = offset + 5 + (0 if single_segment else 1) + dictionary + content_size
        while True:
            header = int.from_bytes(read(at, 3), "little")
            last, kind, size = header & 1, (header >> 1) & 3, header >> 3
            if kind == 3:
                return None  # reserved block type: not a frame we wrote
            at += 3 + (1 if kind == 1 else size)  # an RLE block holds one byte
            if last:
                break
        at += checksum
        return at - offset if at <= end else None
    except EOFError:
        return None
