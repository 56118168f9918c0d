"""Cosine similarity for the store's semantic search: a SQL function on distaff's connection.

langgraph's `SqliteStore` ranks through the sqlite-vec extension, but a CPython built without
extension loading (`sqlite3.Connection.enable_load_extension` missing, as on Debian's
python3.11) cannot load it. A function registered with `create_function` needs nothing. It is a
linear scan, as sqlite-vec's scalar distance functions are too (they use no ANN index), at about
35 µs per item for 1536 dimensions: fine for the thousands of items a single-machine store
holds. Larger stores belong on PostgreSQL with pgvector.
"""

from __future__ import annotations

import functools
import math
import sqlite3
from array import array
from collections.abc import Sequence
from operator import mul

#: The SQL name: `distaff_cosine_similarity(stored_blob, query_blob)`.
SIMILARITY = "distaff_cosine_similarity"


def pack(vector: Sequence[float]) -> bytes:
    """A vector as the float32 blob `store_vectors.embedding` holds (sqlite-vec's format),
    scaled to length 1: cosine similarity then needs only the dot product, about half the
    work per row of a search."""
    norm = math.hypot(*vector)
    return array("f", (x / norm for x in vector) if norm else vector).tobytes()


def _unpack(blob: bytes) -> array[float]:
    vector = array("f")
    vector.frombytes(blob)
    return vector


@functools.lru_cache(maxsize=16)
def _query(blob: bytes) -> array[float]:
    # The query vector is the same argument for every row of one search: decode it once.
    return _unpack(blob)


def cosine_similarity(stored: bytes | None, query: bytes | None) -> float | None:
    """Of two packed (unit or zero) vectors: 1.0 for the same direction, 0.0 for orthogonal or
    a zero vector; NULL when either is missing or the lengths differ (vectors left from another
    `dims`)."""
    if stored is None or query is None:
        return None
    vector, target = _unpack(stored), _query(query)
    if len(vector) != len(target):
        return None
    dot: float = sum(map(mul, vector, target))
    return max(-1.0, min(1.0, dot))  # float32 rounding can step just past 1


def register(conn: sqlite3.Connection) -> None:
    conn.create_function(SIMILARITY, 2, cosine_similarity, deterministic=True)
