"""JSON encoding of everything a graph can put in state or on a stream.

orjson handles dicts, lists, dataclasses (langgraph's `Interrupt`, `Send`), datetimes and UUIDs
natively; `_default` covers the rest: pydantic models (every LangChain message), named tuples
(`PregelTask`, `StateSnapshot`), sets, bytes and objects that know how to describe themselves.
"""

from __future__ import annotations

import base64
import dataclasses
import enum
import json
from collections.abc import Callable, Mapping
from typing import Any

import orjson

_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY


def _default(obj: Any) -> Any:
    if isinstance(obj, Raw):
        return loads(obj.encoded)
    model_dump = getattr(obj, "model_dump", None)
    if callable(model_dump) and not isinstance(obj, type):
        return model_dump()
    if isinstance(obj, tuple) and hasattr(obj, "_asdict"):
        return obj._asdict()
    if isinstance(obj, set | frozenset | tuple):
        return list(obj)
    if isinstance(obj, bytes | bytearray):
        return base64.b64encode(bytes(obj)).decode()
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, Mapping):
        return dict(obj)
    dict_method = getattr(obj, "dict", None)
    if callable(dict_method) and not isinstance(obj, type):
        return dict_method()
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    to_json = getattr(obj, "to_json", None)
    if callable(to_json):
        return to_json()
    # Anything else (a model client, a lock) is described rather than failing the whole stream.
    return repr(obj)


def dumps(obj: Any, default: Callable[[Any], Any] | None = None) -> bytes:
    """Compact one-line JSON. Unknown types are described rather than refused; what orjson
    cannot encode at all (integers beyond 64 bits, nesting past 254 levels) goes through the
    standard library, which can. `default` comes before the usual conversions, for callers
    that render some types their own way (`encoder` makes such a `dumps` once)."""
    return _encode(obj, _default if default is None else _chain(default))


def encoder(default: Callable[[Any], Any]) -> Callable[[Any], bytes]:
    """`dumps` with `default` first, for a caller that encodes often (events)."""
    fallback = _chain(default)
    return lambda obj: _encode(obj, fallback)


def _encode(obj: Any, fallback: Callable[[Any], Any]) -> bytes:
    if type(obj) is Raw:
        return obj.encoded
    try:
        return orjson.dumps(obj, default=fallback, option=_OPTIONS)
    except orjson.JSONEncodeError:
        return json.dumps(obj, default=fallback, separators=(",", ":"), ensure_ascii=False).encode()


def _chain(first: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def default(obj: Any) -> Any:
        result = first(obj)
        return _default(obj) if result is NotImplemented else result

    return default


def loads(data: bytes | str) -> Any:
    """Parse stored JSON exactly. The standard library, not orjson: orjson reads an integer
    beyond 64 bits as a float, silently changing the value a client stored."""
    return json.loads(data)


class Raw:
    """JSON already encoded. `dumps` of it alone returns the bytes as they are; inside another
    value it is parsed again (the standard library's fallback could not take orjson's
    `Fragment`), which no caller does today."""

    __slots__ = ("encoded",)

    def __init__(self, encoded: bytes) -> None:
        self.encoded = encoded
