"""Streams a run's graph: what langgraph is asked for (the modes, the input, breakpoints), and
each part it gives as the run's v1 events (`publish`) and the v2 stream's feed (`feed`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.runtime import RunControl
from langgraph.types import Command, Send

from distaff.engine.modes import LegacyMessages, debug_payload, event_name, langgraph_modes
from distaff.graphs import CompiledGraph
from distaff.models import Json
from distaff.run_spec import Interrupts, RunSpec

#: What a v2 run asks langgraph for: everything the v2 channels carry.
V2_MODES = ["checkpoints", "custom", "messages", "tasks", "tools", "updates", "values"]


def graph_input(spec: RunSpec) -> Any:
    command = spec.command
    if not command:
        return spec.input
    args: dict[str, Any] = {}
    if "resume" in command:
        args["resume"] = command["resume"]
    if command.get("update") is not None:
        args["update"] = command["update"]
    goto = command.get("goto")
    if goto:
        items = goto if isinstance(goto, list) else [goto]
        args["goto"] = [
            Send(g["node"], g.get("input")) if isinstance(g, dict) else g for g in items
        ]
    return Command(**args)


async def stream_graph(
    graph: CompiledGraph,
    spec: RunSpec,
    config: dict[str, Any],
    context: Json,
    publish: Callable[[str, Any], None],
    feed: Callable[[tuple[str, ...], str, Any], None],
    control: RunControl,
) -> Any:
    v2 = spec.v2
    requested = set(spec.stream_mode)
    subgraphs = v2 or spec.subgraphs
    # A v2 run's `stream_mode` lists `messages` as the reference records it; the legacy
    # accumulation (a whole message rebuilt per token) is for v1 clients that ask for it.
    legacy = LegacyMessages() if "messages" in requested and not v2 else None
    want_tuple = "messages-tuple" in requested
    want_values = "values" in requested
    last_values: Any = None

    def on_chunk(chunk: Any) -> None:
        nonlocal last_values
        if v2:
            namespace, mode, data = tuple(chunk["ns"]), chunk["type"], chunk["data"]
            if chunk.get("interrupts") and isinstance(data, dict):
                # The v2 part carries interrupts beside the values; the run's end reads
                # them where v1 puts them.
                data = {**data, "__interrupt__": list(chunk["interrupts"])}
        elif subgraphs:
            namespace, mode, data = chunk
        else:
            (mode, data), namespace = chunk, ()
        feed(namespace, mode, data)
        if mode == "values":
            if not namespace:
                last_values = data
            if want_values:
                publish(event_name("values", namespace), data)
        elif mode == "messages":
            message, metadata = data
            if want_tuple:
                publish(event_name("messages", namespace), [message, metadata])
            if legacy is not None:
                for name, payload in legacy.feed(message, metadata):
                    publish(event_name(name, namespace), payload)
        elif mode == "debug":
            publish(event_name("debug", namespace), debug_payload(data))
        else:
            publish(event_name(mode, namespace), data)

    stream_args: dict[str, Any] = {
        "stream_mode": V2_MODES if v2 else langgraph_modes(requested),
        "subgraphs": subgraphs,
        "interrupt_before": _nodes(spec.interrupt_before),
        "interrupt_after": _nodes(spec.interrupt_after),
        # A drain request (shutdown) stops the graph before its next step: `GraphDrained`.
        "control": control,
    }
    if isinstance(graph.checkpointer, BaseCheckpointSaver):  # else langgraph warns per run
        stream_args["durability"] = spec.durability
    stream_args["context"] = context
    if v2:
        # Stream parts as dicts, with interrupts beside the values. (Tokens come as the
        # message chunks v1 gets; the projection makes their content-block events.)
        stream_args["version"] = "v2"
    graph_in = None if config.pop("__distaff_resume__", False) else graph_input(spec)
    # langgraph's overloads cannot see through **stream_args; the call is checked at run time.
    runner: Any = graph
    if "events" in requested:
        async for event in runner.astream_events(graph_in, config, version="v2", **stream_args):
            if event["event"] == "on_chain_stream" and not event.get("parent_ids"):
                on_chunk(event["data"]["chunk"])
            else:
                publish("events", event)
    else:
        async for chunk in runner.astream(graph_in, config, **stream_args):
            on_chunk(chunk)
    return last_values


def _nodes(interrupts: Interrupts) -> str | list[str] | None:
    """Breakpoints as langgraph has always been given them here: the JSON they were stored as."""
    return list(interrupts) if isinstance(interrupts, tuple) else interrupts
