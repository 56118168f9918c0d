"""A stand-in for `langchain_openai`, on the import path of the template test servers only.

memory-agent's manifest indexes the store with `"embed": "openai:text-embedding-3-small"`,
which distaff resolves through langchain's `init_embeddings`, that is
`langchain_openai.OpenAIEmbeddings(model=...)`. This one embeds offline and deterministically: a
bag of words, each word hashed into one of `dimensions` (1536, as the manifest's `dims`)
buckets, the vector normalised. Texts that share words score higher, which is all semantic search
needs to be checked.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
from typing import Any

from langchain_core.embeddings import Embeddings
from pydantic import BaseModel, ConfigDict

__all__ = ["OpenAIEmbeddings"]

WORD = re.compile(r"[a-z0-9]+")


class OpenAIEmbeddings(BaseModel, Embeddings):
    """Deterministic fake of `langchain_openai.OpenAIEmbeddings`: no network."""

    model: str = "text-embedding-3-small"
    dimensions: int = 1536
    api_key: str | None = None

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    def model_post_init(self, context: Any, /) -> None:
        if not (self.api_key or os.environ.get("OPENAI_API_KEY")):
            raise ValueError("OPENAI_API_KEY is not set (fake langchain_openai)")

    def _vector(self, text: str) -> list[float]:
        vector = [0.0] * self.dimensions
        for word in WORD.findall(text.lower()):
            bucket = int.from_bytes(hashlib.sha256(word.encode()).digest()[:8], "big")
            vector[bucket % self.dimensions] += 1.0
        norm = math.sqrt(sum(x * x for x in vector))
        if norm == 0:
            vector[0], norm = 1.0, 1.0
        return [x / norm for x in vector]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._vector(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._vector(text)
