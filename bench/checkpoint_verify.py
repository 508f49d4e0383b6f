"""Bench: hashing a checkpoint file for its manifest — SHA-256 and CRC32 in one pass vs two.

Writes one file of SIZE_MIB random bytes in a temporary folder, then times, interleaved over
ROUNDS rounds (median reported), twice: ``warm`` (the file stays in the page cache, as a
checkpoint smaller than free memory just written) and ``cold`` (the file's cached pages are
dropped with posix_fadvise(DONTNEED) before every pass over it, as for a shard larger than the
page cache, where a second pass reads the disk again):
  * ``one pass``: :func:`tasks.checkpoints.manifest.digest` (each 4 MiB chunk feeds SHA-256 and
    CRC32 before the next is read), what seal and verify use;
  * ``two passes``: the file read twice, SHA-256 on the first pass, CRC32 on the second;
  * ``sha256 only``: one pass, SHA-256 alone (what CRC32 adds on top).
Also the peak Python memory of one ``digest`` call (tracemalloc): bounded by the chunk, not the
file. Usage: python bench/checkpoint_verify.py [SIZE_MIB ROUNDS]
"""

from __future__ import annotations

import hashlib
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
import zlib
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tasks.checkpoints.manifest import CHUNK_BYTES, digest  # noqa: E402

COLD = False  # set by main(): drop the file's cached pages before every pass


def evict(path: Path) -> None:
    """Drop this one file's clean pages from the page cache (nothing else is touched)."""
    with path.open("rb") as handle:
        os.posix_fadvise(handle.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)


def _chunks(path: Path):
    if COLD:
        evict(path)
    with path.open("rb", buffering=0) as handle:
        while chunk := handle.read(CHUNK_BYTES):
            yield chunk


def two_passes(path: Path) -> tuple[str, str]:
    sha = hashlib.sha256()
    for chunk in _chunks(path):
        sha.update(chunk)
    crc = 0
    for chunk in _chunks(path):
        crc = zlib.crc32(chunk, crc)
    return sha.hexdigest(), f"{crc:08x}"


def sha256_only(path: Path) -> tuple[str, str]:
    sha = hashlib.sha256()
    for chunk in _chunks(path):
        sha.update(chunk)
    return sha.hexdigest(), ""


def one_pass(path: Path) -> tuple[str, str]:
    if COLD:
        evict(path)
    return digest(path)


def timed(function: Callable[[Path], tuple[str, str]], path: Path) -> tuple[float, tuple]:
    start = time.perf_counter()
    result = function(path)
    return time.perf_counter() - start, result


def measure(path: Path, rounds: int, size_mib: int, label: str) -> None:
    runs: dict[str, list[float]] = {"one pass": [], "two passes": [], "sha256 only": []}
    results = {}
    for _ in range(rounds):
        for name, function in (
            ("one pass", one_pass),
            ("two passes", two_passes),
            ("sha256 only", sha256_only),
        ):
            seconds, results[name] = timed(function, path)
            runs[name].append(seconds)
    assert results["one pass"] == results["two passes"], "the two ways disagree"
    one = statistics.median(runs["one pass"])
    for name, seconds in runs.items():
        median = statistics.median(seconds)
        print(f"| {label} | {name} | {median:.3f} | {size_mib / median:.0f} | {median / one:.2f} |")


def main(size_mib: int = 512, rounds: int = 5) -> None:
    global COLD
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "shard.bin"
        with path.open("wb") as handle:
            for _ in range(size_mib):
                handle.write(os.urandom(1 << 20))
            handle.flush()
            os.fsync(handle.fileno())  # written back: its pages can be dropped
        print(f"file {size_mib} MiB, chunk {CHUNK_BYTES >> 20} MiB, {rounds} rounds (median)")
        print("| cache | way | median s | MiB/s | vs one pass |")
        print("|---|---|---|---|---|")
        sha256_only(path)  # warm the page cache
        measure(path, rounds, size_mib, "warm")
        COLD = True
        measure(path, rounds, size_mib, "cold")
        COLD = False
        tracemalloc.start()
        digest(path)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    print(f"peak Python memory of one digest(): {peak / (1 << 20):.1f} MiB")


if __name__ == "__main__":
    arguments = [int(value) for value in sys.argv[1:3]]
    main(*arguments)
