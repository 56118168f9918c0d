"""The long-term store's embeddings: which texts a batch needs vectors for, and what counts
as a broken embedding function.

Both stores embed a whole batch before any of its SQL runs, so an embedding function that
fails or breaks its contract stops the batch before it writes anything, as one
`EmbeddingError` (a JSON 500 from the API).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

from langgraph.store.base import Op, PutOp, SearchOp, get_text_at_path, tokenize_path

from distaff.errors import EmbeddingError

Vectors = dict[str, list[float]]


def texts_to_embed(ops: Sequence[Op], tokenized_fields: Sequence[tuple[str, Any]]) -> list[str]:
    """Every text `ops` needs a vector for, once each: the search queries, and the indexed
    fields of the puts the batch writes (the last put of an item wins, as langgraph's stores
    write it). A put without its own `index` indexes `tokenized_fields`, the index config's
    `(path, tokens)` pairs."""
    texts: dict[str, None] = {}
    puts: dict[tuple[tuple[str, ...], str], PutOp] = {}
    for op in ops:
        if isinstance(op, PutOp):
            puts[(op.namespace, op.key)] = op
        elif isinstance(op, SearchOp) and op.query:
            texts[op.query] = None
    for put in puts.values():
        if put.value is None or put.index is False:
            continue
        if put.index is None:
            paths = [tokens for _, tokens in tokenized_fields]
        else:
            paths = [tokenize_path(path) for path in put.index]
        for tokens in paths:
            texts.update(dict.fromkeys(get_text_at_path(put.value, tokens)))
    return list(texts)


@contextlib.contextmanager
def embedding_failures() -> Iterator[None]:
    """Whatever the user's embedding function raises becomes one error the API reports."""
    try:
        yield
    except EmbeddingError:
        raise
    except Exception as exc:
        raise EmbeddingError(f"the store's embedding function failed: {exc!r}") from exc


def checked(texts: Sequence[str], embedded: Sequence[list[float]], dims: int) -> Vectors:
    """The vectors by text, once the embedding function returned one per text, each of the
    configured `dims`."""
    if len(embedded) != len(texts):
        raise EmbeddingError(
            f"the store's embedding function returned {len(embedded)} vectors "
            f"for {len(texts)} texts"
        )
    for vector in embedded:
        if len(vector) != dims:
            raise EmbeddingError(
                f"the store's embedding function returned a vector of {len(vector)} "
                f"dimensions; store.index.dims is {dims}"
            )
    return dict(zip(texts, embedded, strict=True))
