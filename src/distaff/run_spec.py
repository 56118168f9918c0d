"""A run's parameters, typed: what its creator asked for, as the engine executes it.

`RunSpec.from_body` builds one from a run-creation body (pure: the run service passes in what
it computed itself, the merged config and the filtered context); `to_stored` is the run's
`kwargs` JSON, stored with the run and shown as is by `GET /runs/{id}`, so its keys and their
order are the contract's; `from_stored` reads it back for the engine. A run stored by an older
distaff lacks the newer keys (`v2`): a missing key reads as its default. Keys this version does
not know are kept in `extra` and written back after the known ones.

This module sits below `distaff.models` (which reads `deletes_thread` for the backends), so it
imports nothing from distaff.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias, get_args

Json: TypeAlias = dict[str, Any]
Durability = Literal["sync", "async", "exit"]
OnCompletion = Literal["delete", "keep"]
#: `interrupt_before`/`interrupt_after`: every node (`"*"`), these nodes, or none.
Interrupts: TypeAlias = Literal["*"] | tuple[str, ...] | None

DEFAULT_STREAM_MODE: tuple[str, ...] = ("values",)
DEFAULT_DURABILITY: Durability = "async"
DEFAULT_ON_COMPLETION: OnCompletion = "delete"
#: A v2 run's `stream_mode`, as the reference records it (bookkeeping: a v2 run streams every
#: channel).
V2_STREAM_MODE: tuple[str, ...] = (
    "values",
    "updates",
    "messages",
    "tools",
    "lifecycle",
    "custom",
    "tasks",
    "checkpoints",
)

#: The stored keys `RunSpec` reads; any other is kept in `extra`.
KNOWN_KEYS = frozenset(
    {
        "input",
        "command",
        "config",
        "context",
        "stream_mode",
        "interrupt_before",
        "interrupt_after",
        "webhook",
        "feedback_keys",
        "temporary",
        "subgraphs",
        "resumable",
        "checkpoint_during",
        "durability",
        "v2",
        "checkpoint",
        "on_completion",
    }
)


@dataclass(frozen=True, slots=True)
class RunSpec:
    input: Any = None
    #: `{resume, update, goto}` as the request gave it (the engine turns it into a `Command`).
    command: Json | None = None
    #: The whole config the graph runs with: the assistant's, the request's and the server's
    #: `configurable` keys.
    config: Json = field(default_factory=dict)
    context: Json = field(default_factory=dict)
    stream_mode: tuple[str, ...] = DEFAULT_STREAM_MODE
    interrupt_before: Interrupts = None
    interrupt_after: Interrupts = None
    webhook: str | None = None
    #: Stored for the client to read back; distaff does nothing with them.
    feedback_keys: tuple[str, ...] | None = None
    #: A stateless run: its thread was made for it (and goes with it, see `deletes_thread`).
    temporary: bool = False
    #: The API's `stream_subgraphs` (always on for a v2 run).
    subgraphs: bool = False
    #: The API's `stream_resumable`: its events are kept for a later join or rejoin.
    resumable: bool = False
    durability: Durability = DEFAULT_DURABILITY
    #: A run of the v2 stream (every channel, subgraphs; replayed from the thread's event log).
    v2: bool = False
    #: Where on the thread the run starts (`checkpoint_id`, `checkpoint_ns`...); None for its
    #: latest state.
    checkpoint: Json | None = None
    #: What happens to a stateless run's thread when the run ends (not stored otherwise).
    on_completion: OnCompletion = DEFAULT_ON_COMPLETION
    #: Stored keys this version does not know (a newer distaff's), kept as they were.
    extra: Json = field(default_factory=dict)

    @property
    def deletes_thread(self) -> bool:
        """Whether the run's thread goes away with it: a stateless run not asked to keep it."""
        return self.temporary and self.on_completion != "keep"

    @property
    def checkpoint_during(self) -> bool:
        """The older name of durability, still stored for clients reading it."""
        return self.durability != "exit"

    @classmethod
    def from_body(
        cls, body: Json, *, config: Json, context: Json, temporary: bool, v2: bool = False
    ) -> RunSpec:
        """The spec a run-creation body asks for (already validated by the API schema or
        built by a service), with the config and context the run service built for it."""
        durability = body.get("durability")
        if durability is None and body.get("checkpoint_during") is not None:
            durability = "async" if body["checkpoint_during"] else "exit"
        checkpoint = body.get("checkpoint") or (
            {"checkpoint_id": body["checkpoint_id"]} if body.get("checkpoint_id") else None
        )
        return cls(
            input=body.get("input"),
            command=body.get("command"),
            config=config,
            context=context,
            stream_mode=V2_STREAM_MODE if v2 else _modes(body.get("stream_mode")),
            interrupt_before=_interrupts(body.get("interrupt_before")),
            interrupt_after=_interrupts(body.get("interrupt_after")),
            webhook=body.get("webhook"),
            feedback_keys=_names(body.get("feedback_keys")),
            temporary=temporary,
            subgraphs=v2 or bool(body.get("stream_subgraphs")),
            # A v2 run is replayed from the thread's event log: its v1 events are not kept too.
            resumable=not v2 and bool(body.get("stream_resumable")),
            durability=_durability(durability),
            v2=v2,
            checkpoint=checkpoint,
            on_completion=_on_completion(body.get("on_completion") if temporary else None),
        )

    @classmethod
    def from_stored(cls, kwargs: Json) -> RunSpec:
        """A run's stored `kwargs` read back; a missing (or null) key is its default."""
        webhook = kwargs.get("webhook")
        return cls(
            input=kwargs.get("input"),
            command=_object(kwargs.get("command")),
            config=_object(kwargs.get("config")) or {},
            context=_object(kwargs.get("context")) or {},
            stream_mode=_modes(kwargs.get("stream_mode")),
            interrupt_before=_interrupts(kwargs.get("interrupt_before")),
            interrupt_after=_interrupts(kwargs.get("interrupt_after")),
            webhook=webhook if isinstance(webhook, str) else None,
            feedback_keys=_names(kwargs.get("feedback_keys")),
            temporary=bool(kwargs.get("temporary")),
            subgraphs=bool(kwargs.get("subgraphs")),
            resumable=bool(kwargs.get("resumable")),
            durability=_durability(kwargs.get("durability")),
            v2=bool(kwargs.get("v2")),
            checkpoint=_object(kwargs.get("checkpoint")) or None,
            on_completion=_on_completion(kwargs.get("on_completion")),
            extra={k: v for k, v in kwargs.items() if k not in KNOWN_KEYS},
        )

    def to_stored(self) -> Json:
        """The run's `kwargs` JSON, in the order clients have always seen its keys; `v2`,
        `checkpoint` and `on_completion` only when they say something."""
        stored: Json = {
            "input": self.input,
            "command": self.command,
            "config": self.config,
            "context": self.context,
            "stream_mode": list(self.stream_mode),
            "interrupt_before": _listed(self.interrupt_before),
            "interrupt_after": _listed(self.interrupt_after),
            "webhook": self.webhook,
            "feedback_keys": _listed(self.feedback_keys),
            "temporary": self.temporary,
            "subgraphs": self.subgraphs,
            "resumable": self.resumable,
            "checkpoint_during": self.checkpoint_during,
            "durability": self.durability,
        }
        if self.v2:
            stored["v2"] = True
        if self.checkpoint:
            stored["checkpoint"] = self.checkpoint
        if self.temporary:
            stored["on_completion"] = self.on_completion
        stored.update(self.extra)
        return stored


def _object(value: Any) -> Json | None:
    return value if isinstance(value, dict) else None


def _modes(value: Any) -> tuple[str, ...]:
    """`stream_mode`: one mode or a list of them; none means the default."""
    if not value:
        return DEFAULT_STREAM_MODE
    return (value,) if isinstance(value, str) else tuple(value)


def _interrupts(value: Any) -> Interrupts:
    if value == "*":
        return "*"
    return _names(value)


def _names(value: Any) -> tuple[str, ...] | None:
    return tuple(value) if isinstance(value, list | tuple) else None


def _durability(value: Any) -> Durability:
    return value if value in get_args(Durability) else DEFAULT_DURABILITY


def _on_completion(value: Any) -> OnCompletion:
    return "keep" if value == "keep" else DEFAULT_ON_COMPLETION


def _listed(value: str | tuple[str, ...] | None) -> str | list[str] | None:
    """Tuples are stored as the JSON lists they came from."""
    return list(value) if isinstance(value, tuple) else value
