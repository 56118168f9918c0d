"""`database_url` scheme -> backend, open to plug-ins.

A backend is an *opener*: a function from `BackendOptions` to an async context manager yielding
an object that implements `base.Backend`. The built-in ones are registered here, exactly as a
plug-in registers its own, either by calling `register_backend("mydb", open_mydb)` before the
app starts or through an entry point in the `distaff.backends` group, named for the scheme:

    [project.entry-points."distaff.backends"]
    mydb = "my_package.backend:open_mydb"

An entry point is loaded the first time its scheme is asked for, so an installed plug-in needs
no code to be called, and a broken one only matters to whoever uses its scheme. Built-in
backends are imported lazily, so a missing optional driver only matters to those who choose
that backend.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

from langgraph.checkpoint.serde.base import SerializerProtocol
from langgraph.store.base import IndexConfig, TTLConfig

from distaff.backends.base import Backend
from distaff.errors import ConfigError

ENTRY_POINT_GROUP = "distaff.backends"


@dataclass(frozen=True, slots=True)
class BackendOptions:
    """What distaff asks of a backend when it opens one."""

    #: The whole URL, scheme included (`mydb://host/name?opt=1`).
    database_url: str
    #: The store's TTL defaults (`store.ttl`), for its `BaseStore`.
    store_ttl: TTLConfig | None = None
    #: Semantic search over the store (`store.index`), embedding function resolved.
    store_index: IndexConfig | None = None
    #: How long a claim on a run holds without a heartbeat (shared databases).
    lease_seconds: float = 20.0
    #: The checkpoint serializer to give the backend's saver (`checkpointer.serde`); None for
    #: langgraph's default.
    serde: SerializerProtocol | None = None

    @property
    def scheme(self) -> str:
        return scheme_of(self.database_url)

    @property
    def rest(self) -> str:
        """The URL after `scheme://`."""
        return self.database_url.partition("://")[2]


Opener = Callable[[BackendOptions], AbstractAsyncContextManager[Backend]]

_OPENERS: dict[str, Opener] = {}


def scheme_of(database_url: str) -> str:
    scheme, sep, _ = database_url.partition("://")
    return scheme.lower() if sep else database_url.lower()


def register_backend(scheme: str, opener: Opener, *, replace: bool = False) -> None:
    """Make `scheme://...` database URLs open with `opener`. Registering a scheme twice is an
    error unless `replace` (so two plug-ins cannot silently take the same one)."""
    scheme = scheme.lower().removesuffix("://")
    if not scheme or not scheme.replace("+", "").replace("-", "").replace(".", "").isalnum():
        raise ValueError(f"not a URL scheme: {scheme!r}")
    if scheme in _OPENERS and not replace and _OPENERS[scheme] is not opener:
        raise ValueError(f"a backend is already registered for {scheme}://")
    _OPENERS[scheme] = opener


def _entry_points(scheme: str | None = None) -> list[importlib.metadata.EntryPoint]:
    found = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
    return [e for e in found if scheme is None or e.name.lower() == scheme]


def registered_schemes() -> list[str]:
    """Every scheme a `database_url` may use: registered ones and installed plug-ins'."""
    return sorted(set(_OPENERS) | {e.name.lower() for e in _entry_points()})


def _load_plugin(scheme: str) -> None:
    """Register the installed plug-in for `scheme`, if there is one. Only the plug-in asked
    for is imported: a broken one for another scheme never matters here."""
    entries = {e.value: e for e in _entry_points(scheme)}.values()
    if len(entries) > 1:
        claims = ", ".join(f"{e.value} ({e.dist.name if e.dist else '?'})" for e in entries)
        raise ConfigError(f"{scheme}:// is claimed by several installed backends: {claims}")
    for entry in entries:
        try:
            opener = entry.load()
        except Exception as exc:
            raise ConfigError(
                f"the backend plug-in for {scheme}:// ({entry.value}) failed to load:"
                f" {type(exc).__name__}: {exc}"
            ) from exc
        if not callable(opener):
            raise ConfigError(
                f"the backend plug-in for {scheme}:// ({entry.value}) is not callable"
            )
        register_backend(scheme, opener)


def opener_for(database_url: str) -> Opener:
    scheme = scheme_of(database_url)
    if scheme not in _OPENERS:
        _load_plugin(scheme)
    try:
        return _OPENERS[scheme]
    except KeyError:
        known = ", ".join(f"{s}://" for s in registered_schemes())
        raise ConfigError(
            f"unknown database_url {database_url!r}: no backend for {scheme}:// (known: {known};"
            f" a plug-in adds one with distaff.register_backend or a {ENTRY_POINT_GROUP!r} entry"
            " point)"
        ) from None


@contextlib.asynccontextmanager
async def open_backend(
    database_url: str,
    *,
    store_ttl: TTLConfig | None = None,
    store_index: IndexConfig | None = None,
    lease_seconds: float = 20.0,
    serde: SerializerProtocol | None = None,
) -> AsyncIterator[Backend]:
    options = BackendOptions(database_url, store_ttl, store_index, lease_seconds, serde)
    async with opener_for(database_url)(options) as backend:
        yield backend


# The built-in backends, registered as any plug-in would be.


@contextlib.asynccontextmanager
async def _open_memory(options: BackendOptions) -> AsyncIterator[Backend]:
    from distaff.backends.memory import open_memory

    async with open_memory(options.store_ttl, options.store_index, serde=options.serde) as backend:
        yield backend


@contextlib.asynccontextmanager
async def _open_sqlite(options: BackendOptions) -> AsyncIterator[Backend]:
    from distaff.backends.sqlite import open_sqlite

    path = options.rest.removeprefix("/")
    if not options.database_url.lower().startswith("sqlite:///") or not path:
        raise ConfigError("sqlite:/// needs a file path, e.g. sqlite:///.distaff/db.sqlite")
    async with open_sqlite(
        path, options.store_ttl, options.store_index, serde=options.serde
    ) as backend:
        yield backend


@contextlib.asynccontextmanager
async def _open_postgres(options: BackendOptions) -> AsyncIterator[Backend]:
    try:
        from distaff.backends.postgres import open_postgres
    except ImportError as exc:
        raise ConfigError(
            f"postgresql:// needs distaff's postgres extra (pip install 'distaff[postgres]'): {exc}"
        ) from None
    async with open_postgres(
        options.database_url,
        options.store_ttl,
        options.store_index,
        lease_seconds=options.lease_seconds,
        serde=options.serde,
    ) as backend:
        yield backend


register_backend("memory", _open_memory)
register_backend("sqlite", _open_sqlite)
register_backend("postgresql", _open_postgres)
register_backend("postgres", _open_postgres)
