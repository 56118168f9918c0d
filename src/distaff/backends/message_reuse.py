"""A thread's messages handed from one run to the next as objects, not decoded again.

A run on a thread starts by reading the thread's latest checkpoint, and langgraph decodes all
of it: on a long conversation, rebuilding every message (a pydantic model validated field by
field, about 9 us each here) is the largest part of the run's CPU. The checkpoint was most
often written by this process, by the thread's previous run, a moment ago. `ReusingSerializer`
is langgraph's serializer (the same bytes) that keeps, for the messages of the checkpoints a
saver writes (`recorder`), an object decoded from each message's bytes, once per message: the
first checkpoint that holds it. A run that reads those very bytes back (`reading`) gets the
kept object if it still encodes to them (the run it was last handed to may have changed it in
place: then it is decoded, as always). Checking is one encoding, about a third of a decoding.

So what a run gets was built by decoding the bytes it reads, as without this module; it is
never an object a node made (a global, a model's cache, the writer's own), and it is handed to
one run at a time: to a run of the same thread other than the one that had it last (a thread
has one active run; a state read, history, another process decode their own). Only the plain
message classes (langchain's human, AI, tool and system messages, not their subclasses or
chunks), each only if its decoding equals it (a tuple inside decodes as a list, a class defined
in a function as a dict: such a message is not kept), and only while the serializer decodes
every type (langgraph's default, permissive mode). A message a run had to decode (the first
run after a start, or after it was dropped) is kept as that run's from then on, so it is not
decoded again when the run writes it (kept as decoded, unchecked: one that does not encode
back to its bytes is dropped at the next read, which decodes it). What this cannot see is a
change no encoding records, made to an object by the run that had it (a private attribute, an
attribute pydantic does not know), nor a node of a cancelled run that is still running in its
thread and changes its input in place while the next run starts: langgraph's rule that a node
returns updates and does not change its input is assumed.
Held: at most `MAX_MESSAGES` messages taking about `MAX_BYTES` of memory (each counted at ten
times its encoding, about what a message object takes: 300 messages of a real conversation,
3 KB each encoded, count 9 MB), the least recently read or written dropped first.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any

import ormsgpack
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langgraph.checkpoint.serde.jsonplus import (
    EXT_PYDANTIC_V2,
    JsonPlusSerializer,
    _msgpack_default,
    _msgpack_enc,
    _option,
)

MAX_MESSAGES = 20_000
MAX_BYTES = 64 * 2**20
#: The messages kept: the plain classes, whose decoding the kept object is.
_KINDS = (AIMessage, HumanMessage, SystemMessage, ToolMessage)

#: The run reading now, in this context: (thread_id, run_id).
_reader: contextvars.ContextVar[tuple[str, str] | None] = contextvars.ContextVar(
    "distaff_message_reader", default=None
)


def _payload(message: BaseMessage) -> bytes:
    """A message's encoding inside its msgpack extension, as langgraph's serializer makes it
    (a pydantic v2 model: module, class name, fields, constructor)."""
    cls = type(message)
    return _msgpack_enc((cls.__module__, cls.__name__, message.model_dump(), "model_validate_json"))


def _same_encoding() -> bool:
    """Whether `_payload` still encodes a message as the installed langgraph does; if a new
    version changed the format, nothing is recorded (every read decodes)."""
    sample = AIMessage("sample", id="sample", tool_calls=[{"name": "t", "args": {}, "id": "1"}])
    mine = ormsgpack.packb([ormsgpack.Ext(EXT_PYDANTIC_V2, _payload(sample))])
    return mine == _msgpack_enc([sample])


_ENABLED = _same_encoding()


class _Kept:
    __slots__ = ("holder", "message", "weight")

    def __init__(self, message: BaseMessage, weight: int) -> None:
        self.message = message
        #: The run it was last handed to (None: none yet).
        self.holder: str | None = None
        self.weight = weight


class MessageReuse:
    """The messages written lately, by thread and encoding. Thread-safe: SQLite reads and
    writes on the database's threads, PostgreSQL in the event loop."""

    def __init__(self) -> None:
        self._kept: OrderedDict[tuple[str, bytes], _Kept] = OrderedDict()
        self._weight = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._kept)

    @property
    def weight(self) -> int:
        return self._weight

    def keep(
        self,
        thread_id: str,
        written: list[tuple[bytes, BaseMessage]],
        decode: Callable[[bytes], Any],
    ) -> None:
        """Keep the messages a checkpoint of the thread was written with: those kept already
        stay as they are; each new one as decoded from its bytes."""
        new: list[tuple[tuple[str, bytes], BaseMessage]] = []
        with self._lock:
            for payload, message in written:
                key = (thread_id, payload)
                if key in self._kept:
                    self._kept.move_to_end(key)
                else:
                    new.append((key, message))
        for key, message in new:
            try:
                decoded = decode(key[1])
            except Exception:
                continue
            if type(decoded) is not type(message) or decoded != message:
                continue  # decodes as something else (a class it cannot import): not kept
            with self._lock:
                if key not in self._kept:
                    weight = len(key[1]) * 10
                    self._kept[key] = _Kept(decoded, weight)
                    self._weight += weight
        with self._lock:
            self._bound()

    def _bound(self) -> None:
        while self._kept and (len(self._kept) > MAX_MESSAGES or self._weight > MAX_BYTES):
            _, dropped = self._kept.popitem(last=False)
            self._weight -= dropped.weight

    def adopt(self, thread_id: str, run_id: str, payload: bytes, message: BaseMessage) -> None:
        """Keep a message `run_id` has just decoded from `payload`, as that run's."""
        key = (thread_id, payload)
        with self._lock:
            if key in self._kept:
                return
            kept = self._kept[key] = _Kept(message, len(payload) * 10)
            kept.holder = run_id
            self._weight += kept.weight
            self._bound()

    def take(self, thread_id: str, run_id: str, payload: bytes) -> BaseMessage | None:
        """The message `payload` encodes, as the object kept for it, if it still encodes so
        and `run_id` does not hold it already; None: decode it."""
        with self._lock:
            kept = self._kept.get((thread_id, payload))
            if kept is None or kept.holder == run_id:
                return None
            kept.holder = run_id
        try:
            if _payload(kept.message) == payload:
                return kept.message
        except Exception:  # changed in place into something that no longer encodes
            pass
        with self._lock:  # changed: gone, for whoever asks next
            if self._kept.get((thread_id, payload)) is kept:
                del self._kept[(thread_id, payload)]
                self._weight -= kept.weight
        return None


class Recorder:
    """Encodes values as langgraph's serializer does, byte for byte, noting the messages met;
    `keep` them once the checkpoint is written (one that is not keeps nothing)."""

    def __init__(self, reuse: MessageReuse, thread_id: str, decode: Callable[[bytes], Any]) -> None:
        self._reuse, self._thread_id, self._decode = reuse, thread_id, decode
        self._written: list[tuple[bytes, BaseMessage]] = []

    def _default(self, obj: Any) -> Any:
        if type(obj) in _KINDS:
            payload = _payload(obj)
            self._written.append((payload, obj))
            return ormsgpack.Ext(EXT_PYDANTIC_V2, payload)
        return _msgpack_default(obj)

    def encode(self, value: Any) -> bytes:
        noted = len(self._written)
        try:
            return ormsgpack.packb(value, default=self._default, option=_option)
        except Exception:
            del self._written[noted:]  # a value that did not encode is written otherwise, if at all
            raise

    def keep(self) -> None:
        if self._written:
            self._reuse.keep(self._thread_id, self._written, self._decode)
            self._written = []


class ReusingSerializer(JsonPlusSerializer):
    """langgraph's serializer, writing the same bytes, which hands a run the messages its
    thread's previous run wrote (see the module's docstring)."""

    reuse: MessageReuse

    @classmethod
    def like(cls, serde: JsonPlusSerializer | None) -> ReusingSerializer:
        """This serializer with the settings of `serde` (langgraph's default for None)."""
        base = serde if serde is not None else JsonPlusSerializer()
        clone = cls.__new__(cls)
        clone.__dict__.update(vars(base))
        clone.reuse = MessageReuse()
        return clone

    def hands_over(self) -> bool:
        # Read with defaults: were langgraph to rename them, reads would decode, nothing more.
        return (
            _ENABLED
            and getattr(self, "_allowed_msgpack_modules", None) is True
            and not getattr(self, "_custom_unpack_ext_hook", True)
        )

    def recorder(self, thread_id: str, run_id: str | None) -> Recorder | None:
        """An encoder for the values of a checkpoint `run_id` writes on `thread_id`; None when
        nothing would be handed over (no run, or a mode that decodes otherwise)."""
        if run_id is None or not self.hands_over():
            return None
        hook = self._unpack_ext_hook
        return Recorder(self.reuse, thread_id, lambda payload: hook(EXT_PYDANTIC_V2, payload))

    def loads_typed(self, data: tuple[str, bytes]) -> Any:
        reader = _reader.get()
        if reader is None or data[0] != "msgpack" or not self.hands_over():
            return super().loads_typed(data)
        thread_id, run_id = reader
        reuse, decode = self.reuse, self._unpack_ext_hook

        def ext_hook(code: int, payload: bytes) -> Any:
            if code != EXT_PYDANTIC_V2:
                return decode(code, payload)
            message = reuse.take(thread_id, run_id, payload)
            if message is None:
                message = decode(code, payload)
                if type(message) in _KINDS:
                    reuse.adopt(thread_id, run_id, payload, message)
            return message

        return ormsgpack.unpackb(data[1], ext_hook=ext_hook, option=ormsgpack.OPT_NON_STR_KEYS)


def reusing(serde: Any) -> Any:
    """The serializer a saver should use: `ReusingSerializer` in place of langgraph's own (or
    of none given); any other serializer (a subclass, encryption) as it is."""
    if serde is None or type(serde) is JsonPlusSerializer:
        return ReusingSerializer.like(serde)
    return serde


@contextlib.contextmanager
def reading(config: Any) -> Iterator[None]:
    """Reads of checkpoints in this block are for the run `config` belongs to, if it names
    one (langgraph's loop reads with the run's config; a state read has no run)."""
    configurable = (config.get("configurable") or {}) if isinstance(config, dict) else {}
    run_id, thread_id = configurable.get("run_id"), configurable.get("thread_id")
    if run_id is None or thread_id is None:
        yield
        return
    token = _reader.set((str(thread_id), str(run_id)))
    try:
        yield
    finally:
        _reader.reset(token)


def recorder_for(serde: Any, thread_id: str, config: Any) -> Recorder | None:
    """The encoder for a checkpoint written with `config` on `thread_id` that keeps its
    messages for the thread's next run; None where nothing is kept (another serializer, no
    run in the config, a mode that decodes otherwise)."""
    if not isinstance(serde, ReusingSerializer):
        return None
    run_id = (config.get("configurable") or {}).get("run_id")
    return serde.recorder(thread_id, None if run_id is None else str(run_id))
