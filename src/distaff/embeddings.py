"""The store's embedding function, from whatever `store.index.embed` names.

Resolved once at start-up, so a typo in the manifest stops the server with a message instead
of failing the first search. Every backend gets the same langgraph `IndexConfig`.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from langchain_core.embeddings import Embeddings
from langgraph.store.base import IndexConfig
from langgraph.store.base.embed import ensure_embeddings

from distaff.errors import ConfigError
from distaff.imports import import_reference, is_file_reference
from distaff.settings import StoreIndexSettings

WHAT = "store.index.embed"


def index_config(index: StoreIndexSettings) -> IndexConfig:
    config: IndexConfig = {"dims": index.dims, "embed": resolve(index.embed)}
    if index.fields is not None:
        config["fields"] = index.fields
    return config


def resolve(embed: Any) -> Embeddings:
    if isinstance(embed, str):
        embed = _named(embed)
    if isinstance(embed, Embeddings):
        return embed
    if callable(embed):
        return ensure_embeddings(embed)
    raise ConfigError(
        f"{WHAT} must name an Embeddings object or a function from texts to vectors, "
        f"got {type(embed).__name__}"
    )


def _named(target: str) -> Any:
    if ":" not in target:
        raise ConfigError(
            f"{WHAT}: {target!r} must be 'path/to/file.py:attr', 'module:attr' or 'provider:model'"
        )
    if is_file_reference(target):
        return import_reference(target, Path.cwd(), WHAT)
    try:
        return import_reference(target, Path.cwd(), WHAT)
    except ConfigError as exc:
        not_importable = exc.message
    # Not an importable attribute: a langchain model name such as "openai:text-embedding-3-small".
    try:
        init_embeddings = importlib.import_module("langchain.embeddings").init_embeddings
    except ImportError:
        raise ConfigError(
            f"{not_importable}; read as 'provider:model' it needs the langchain package "
            "and the provider's (pip install langchain langchain-openai, for example)"
        ) from None
    try:
        return init_embeddings(target)
    except Exception as exc:
        # langchain explains at length (a list of every provider): its first line says it.
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ConfigError(f"{WHAT}: init_embeddings({target!r}) failed: {reason}") from exc
