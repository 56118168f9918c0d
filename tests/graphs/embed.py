"""A deterministic embedding for tests: each word adds 1 to one of `DIMS` axes chosen by a
stable hash, so texts that share words point the same way and the ranking is reproducible."""

from __future__ import annotations

import math
import re
import zlib

DIMS = 16


def vector(text: str) -> list[float]:
    out = [0.0] * DIMS
    for word in re.findall(r"[a-z0-9]+", text.lower()):
        out[zlib.crc32(word.encode()) % DIMS] += 1.0
    return out


def cosine(a: list[float], b: list[float]) -> float:
    norms = math.hypot(*a) * math.hypot(*b)
    return sum(x * y for x, y in zip(a, b, strict=True)) / norms if norms else 0.0


def embed_texts(texts: list[str]) -> list[list[float]]:
    if any("explode" in text for text in texts):
        raise RuntimeError("the embedding service is down")
    return [vector(text) for text in texts]


async def aembed_texts(texts: list[str]) -> list[list[float]]:
    return embed_texts(texts)
