"""The backend the settings ask for, with what the manifest plugs into it.

`open_persistence` opens the `database_url`'s backend (`backends/registry.py`), then, in this
order: gives its saver the `checkpointer.serde` allow-lists, swaps in a custom checkpointer
(`checkpointer.path`) and store (`store.path`), and wraps everything in at-rest encryption
(`encryption.path`). The user's objects are imported and settled here, at the top, so the
backends only ever see langgraph's own interfaces.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Literal

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.serde.encrypted import EncryptedSerializer
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.store.base import BaseStore, TTLConfig
from langgraph_sdk import Encryption

from distaff.backends.base import Backend
from distaff.backends.custom import with_custom_persistence
from distaff.backends.encrypted import encrypted_backend
from distaff.backends.registry import open_backend
from distaff.embeddings import index_config
from distaff.errors import ConfigError
from distaff.imports import import_reference
from distaff.settings import SerdeSettings, Settings

log = logging.getLogger("distaff")


def checkpoint_serializer(serde: SerdeSettings | None) -> JsonPlusSerializer | None:
    """langgraph's serializer with the manifest's allow-lists; None leaves the saver's own."""
    if serde is None:
        return None

    def modules(value: list[list[str]] | Literal[True] | None) -> Any:
        return value if value is None or value is True else [tuple(path) for path in value]

    given: dict[str, Any] = {}
    # Unset, langgraph's own default decides (it honours LANGGRAPH_STRICT_MSGPACK).
    if "allowed_msgpack_modules" in serde.model_fields_set:
        given["allowed_msgpack_modules"] = modules(serde.allowed_msgpack_modules)
    return JsonPlusSerializer(
        pickle_fallback=serde.pickle_fallback,
        allowed_json_modules=modules(serde.allowed_json_modules),
        **given,
    )


async def _settle(target: Any, stack: contextlib.AsyncExitStack, what: str) -> Any:
    """An instance as is; a context manager entered (closed at shutdown); a function (sync or
    async) called, and what it gives settled the same way."""
    if isinstance(target, str):
        target = import_reference(target, Path("."), what)
    for _ in range(2):  # a factory may return a context manager, nothing deeper
        if isinstance(target, BaseCheckpointSaver | BaseStore):
            return target
        # Before `callable`: `contextlib`'s context managers are callable too (as decorators);
        # and a class is a factory even when its instances are context managers.
        if not inspect.isclass(target):
            if hasattr(type(target), "__aenter__"):
                return await stack.enter_async_context(target)
            if hasattr(type(target), "__enter__"):
                return stack.enter_context(target)
        if not callable(target):
            return target
        if any(
            p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
            for p in inspect.signature(target).parameters.values()
        ):
            raise ConfigError(f"{what}: {target!r} must take no arguments")
        target = target()
        if inspect.isawaitable(target):
            target = await target
    return target


async def _custom_saver(
    settings: Settings, stack: contextlib.AsyncExitStack
) -> BaseCheckpointSaver[Any] | None:
    if settings.checkpointer_path is None:
        return None
    saver = await _settle(settings.checkpointer_path, stack, "checkpointer.path")
    if not isinstance(saver, BaseCheckpointSaver):
        raise ConfigError(
            f"checkpointer.path must name a langgraph BaseCheckpointSaver (or a factory or"
            f" context manager of one), got {type(saver).__name__}"
        )
    if settings.checkpointer_serde is not None:
        _apply_serde(saver, settings.checkpointer_serde)
    setup = getattr(saver, "asetup", None) or getattr(saver, "setup", None)
    if callable(setup):  # the langgraph savers create their tables here
        done = setup()
        if inspect.isawaitable(done):
            await done
    return saver


def _apply_serde(saver: BaseCheckpointSaver[Any], serde: SerdeSettings) -> None:
    """The allow-lists decide what a custom saver revives too, without dropping what its own
    serializer does (an `EncryptedSerializer` keeps its cipher: only the one inside it, which
    revives the values, is replaced)."""
    allowed = checkpoint_serializer(serde)
    assert allowed is not None
    if type(saver.serde) is JsonPlusSerializer:
        saver.serde = allowed
    elif isinstance(saver.serde, EncryptedSerializer) and type(saver.serde.serde) is (
        JsonPlusSerializer
    ):
        saver.serde = EncryptedSerializer(saver.serde.cipher, allowed)
    else:
        log.warning(
            "checkpointer.serde not applied: the custom checkpointer's serializer (%s) is its"
            " own, not langgraph's JsonPlusSerializer",
            type(saver.serde).__name__,
        )


async def _custom_store(settings: Settings, stack: contextlib.AsyncExitStack) -> BaseStore | None:
    if settings.store_path is None:
        return None
    store = await _settle(settings.store_path, stack, "store.path")
    if not isinstance(store, BaseStore):
        raise ConfigError(
            f"store.path must name a langgraph BaseStore (or a factory or context manager of"
            f" one), got {type(store).__name__}"
        )
    setup = getattr(store, "setup", None)
    if callable(setup):
        done = setup()
        if inspect.isawaitable(done):
            await done
    return store


def load_encryption(target: Any) -> Encryption:
    """The `Encryption` object `encryption.path` names (or the object itself)."""
    if isinstance(target, str):
        target = import_reference(target, Path("."), "encryption.path")
    if not isinstance(target, Encryption):
        raise ConfigError(
            f"encryption.path must name a langgraph_sdk.Encryption object, got {target!r}"
        )
    return target


@contextlib.asynccontextmanager
async def open_persistence(settings: Settings) -> AsyncIterator[Backend]:
    async with contextlib.AsyncExitStack() as stack:
        # Loaded before the database opens: a wrong path fails fast, touching nothing.
        encryption = load_encryption(settings.encryption_path) if settings.encryption_path else None
        store_ttl: TTLConfig = {"refresh_on_read": settings.store_refresh_on_read}
        if settings.store_ttl_minutes is not None:
            store_ttl["default_ttl"] = settings.store_ttl_minutes
        store_index = index_config(settings.store_index) if settings.store_index else None
        backend = await stack.enter_async_context(
            open_backend(
                settings.database_url,
                store_ttl=store_ttl,
                store_index=store_index,
                lease_seconds=settings.lease_seconds,
                serde=checkpoint_serializer(settings.checkpointer_serde),
            )
        )
        saver = await _custom_saver(settings, stack)
        store = await _custom_store(settings, stack)
        if saver is not None or store is not None:
            backend = with_custom_persistence(backend, saver, store)
        _check_limits(backend, settings)
        if encryption is not None:
            backend = encrypted_backend(backend, encryption)
        yield backend


def _check_limits(backend: Backend, settings: Settings) -> None:
    """Settings that need what a custom checkpointer cannot do stop the start, with why."""
    needs = []
    if settings.checkpoint_keep_last is not None or settings.checkpoint_max_age_seconds:
        needs.append(("retain", "checkpoint_keep_last / checkpoint_max_age_seconds"))
    if settings.thread_ttl_minutes is not None:
        strategy = settings.thread_ttl_strategy
        operation = "keep_latest" if strategy == "keep_latest" else "delete_thread"
        needs.append((operation, f"checkpointer.ttl (strategy {strategy})"))
    for operation, setting in needs:
        if (reason := backend.checkpoints.cannot(operation)) is not None:
            raise ConfigError(f"{setting}: {reason}")
