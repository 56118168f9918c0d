"""The long-term store: the API's view of the same `BaseStore` graphs get from `get_store()`."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from langgraph.store.base import NOT_PROVIDED, BaseStore, Item, SearchItem

from distaff.auth import OPEN, Gate
from distaff.errors import InvalidInput, Refused
from distaff.ids import isoformat
from distaff.models import Json

#: A filter key is a field name or a dotted path. Checked because langgraph's SQLite store
#: writes the key into its SQL text: anything else could change the query.
_FILTER_KEY = re.compile(r"^[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*$")


def namespace_of(labels: Sequence[str]) -> tuple[str, ...]:
    for label in labels:
        if not isinstance(label, str) or not label:
            raise InvalidInput("Namespace labels must be non-empty strings")
        if "." in label:
            raise InvalidInput(f"Namespace label {label!r} must not contain '.'")
    return tuple(labels)


def item_json(item: Item) -> Json:
    """An item in the API's shape. langgraph's SQLite store keeps naive UTC timestamps to the
    second; they are given the `+00:00` the contract's timestamps carry."""
    out: Json = {
        "namespace": list(item.namespace),
        "key": item.key,
        "value": item.value,
        "created_at": isoformat(_utc(item.created_at)),
        "updated_at": isoformat(_utc(item.updated_at)),
    }
    if isinstance(item, SearchItem):
        out["score"] = item.score
    return out


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _check_filter(filter: Json | None) -> None:
    for key in filter or {}:
        if not _FILTER_KEY.match(key):
            raise InvalidInput(
                f"Invalid filter key {key!r}: use field names or dotted paths of letters, digits,"
                " '_' and '-'"
            )


#: What a handler that returns a filter for a store action is told (on every such call).
FILTER_ON_STORE = (
    "the auth handler for store.{action} returned a filter ({filter}), but store items have no"
    " metadata to hold them to, so the call is refused rather than let through unfiltered:"
    " give the store a handler of its own (@auth.on.store) that checks the caller or rewrites"
    " value['namespace'] to one of theirs"
)


class StoreService:
    """Every operation asks the auth handler first (`store.put`, `store.get`, ...); a handler may
    refuse, or rewrite the namespace (to put each user in their own). A handler that returns a
    filter cannot be obeyed (items have no metadata to match): the call is refused, never let
    through as if the filter were not there (a generic `@auth.on` that returns
    `{"owner": ...}` would otherwise leave every user's items open to everyone)."""

    def __init__(self, store: BaseStore, gate: Gate = OPEN) -> None:
        self._store = store
        self._gate = gate

    async def _namespace(self, action: str, value: Json) -> tuple[str, ...]:
        """The namespace the operation works in, once the handler has seen (or rewritten) it."""
        flt = await self._gate.authorize("store", action, value)
        if flt is not None:
            raise Refused(FILTER_ON_STORE.format(action=action, filter=flt), 403)
        return namespace_of(value.get("namespace") or ())

    async def put(
        self,
        namespace: Sequence[str],
        key: str,
        value: Json,
        *,
        index: Any = None,
        ttl: float | None = None,
    ) -> None:
        if not key:
            raise InvalidInput("key must be a non-empty string")
        asked: Json = {
            "namespace": namespace_of(namespace),
            "key": key,
            "value": value,
            "index": index,
        }
        where = await self._namespace("put", asked)
        # No ttl (the SDKs send null when the caller gave none) means the store's default.
        await self._store.aput(
            where,
            key,
            asked.get("value"),  # type: ignore[arg-type]
            index=index,
            ttl=NOT_PROVIDED if ttl is None else ttl,
        )

    async def get(
        self, namespace: Sequence[str], key: str, *, refresh_ttl: bool | None = None
    ) -> Json | None:
        where = await self._namespace("get", {"namespace": namespace_of(namespace), "key": key})
        item = await self._store.aget(where, key, refresh_ttl=refresh_ttl)
        return item_json(item) if item is not None else None

    async def delete(self, namespace: Sequence[str], key: str) -> None:
        where = await self._namespace("delete", {"namespace": namespace_of(namespace), "key": key})
        await self._store.adelete(where, key)

    async def search(
        self,
        namespace_prefix: Sequence[str],
        *,
        filter: Json | None = None,
        limit: int = 10,
        offset: int = 0,
        query: str | None = None,
        refresh_ttl: bool | None = None,
    ) -> list[Json]:
        _check_filter(filter)
        asked: Json = {
            "namespace": namespace_of(namespace_prefix),
            "filter": filter,
            "limit": limit,
            "offset": offset,
            "query": query,
        }
        where = await self._namespace("search", asked)
        items = await self._store.asearch(
            where,
            query=asked.get("query"),
            filter=asked.get("filter"),
            limit=limit,
            offset=offset,
            refresh_ttl=refresh_ttl,
        )
        return [item_json(item) for item in items]

    async def namespaces(
        self,
        *,
        prefix: Sequence[str] | None = None,
        suffix: Sequence[str] | None = None,
        max_depth: int | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[list[str]]:
        asked: Json = {
            "namespace": namespace_of(prefix) if prefix else None,
            "suffix": namespace_of(suffix) if suffix else None,
            "max_depth": max_depth,
            "limit": limit,
            "offset": offset,
        }
        await self._gate.authorize("store", "list_namespaces", asked)
        prefix, suffix = asked.get("namespace"), asked.get("suffix")
        found = await self._store.alist_namespaces(
            prefix=namespace_of(prefix) if prefix else None,
            suffix=namespace_of(suffix) if suffix else None,
            max_depth=max_depth,
            limit=limit,
            offset=offset,
        )
        return [list(ns) for ns in found]
