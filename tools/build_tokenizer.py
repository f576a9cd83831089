"""Build the compact rank table shipped in the package from the pinned source file.

The source is `tokenizer/qwen.tiktoken` (Apache-2.0, from the PyPI package dashscope 2.0.2,
`dashscope/resources/qwen.tiktoken`; see NOTICE). Its text form takes about half a second to
parse; the compact form groups tokens by byte length so loading is a few slices per group.

Layout (little-endian): b"MIMORANKS1" | u32 number of groups | per group: u16 token length L,
u32 count n, n*L bytes of tokens, n*u32 ranks.

    python tools/build_tokenizer.py          # writes data/tokenizer/qwen-ranks.bin
    python tools/build_tokenizer.py --check  # exits 1 if the shipped file is not current
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
import sys
from array import array
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "tokenizer" / "qwen.tiktoken"
SPEC = ROOT / "data" / "tokenizer" / "mimo.json"
OUT = ROOT / "data" / "tokenizer" / "qwen-ranks.bin"
MAGIC = b"MIMORANKS1"


def read_source(path: Path = SOURCE) -> dict[bytes, int]:
    ranks: dict[bytes, int] = {}
    for line in path.read_bytes().splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


def build(ranks: dict[bytes, int]) -> bytes:
    groups: dict[int, list[tuple[bytes, int]]] = {}
    for token, rank in ranks.items():
        groups.setdefault(len(token), []).append((token, rank))
    out = bytearray(MAGIC + struct.pack("<I", len(groups)))
    for length in sorted(groups):
        items = sorted(groups[length], key=lambda item: item[1])
        out += struct.pack("<HI", length, len(items))
        out += b"".join(token for token, _ in items)
        numbers = array("I", (rank for _, rank in items))
        if sys.byteorder != "little":  # pragma: no cover
            numbers.byteswap()
        out += numbers.tobytes()
    return bytes(out)


def main() -> int:
    spec = json.loads(SPEC.read_text())
    source_sha = hashlib.sha256(SOURCE.read_bytes()).hexdigest()
    if source_sha != spec["source"]["sha256"]:
        print(f"{SOURCE}: sha256 {source_sha} is not the pinned {spec['source']['sha256']}")
        return 1
    blob = build(read_source())
    digest = hashlib.sha256(blob).hexdigest()
    if "--check" in sys.argv:
        current = OUT.exists() and OUT.read_bytes() == blob and spec["ranks_sha256"] == digest
        print("up to date" if current else f"stale: rebuild {OUT} (sha256 {digest})")
        return 0 if current else 1
    OUT.write_bytes(blob)
    print(f"wrote {OUT} ({len(blob):,} bytes, sha256 {digest}); pin it as ranks_sha256")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
