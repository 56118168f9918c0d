"""What a run's graph is given besides its input: its config (from the run's, for this attempt),
its context (the keys the graph's context schema declares), and where a retried run resumes."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver

from distaff.auth import AuthUser
from distaff.graphs import CompiledGraph
from distaff.models import Json, Run
from distaff.run_spec import RunSpec
from distaff.state import thread_config


def context_keys(schema: Any) -> set[str] | None:
    """The keys a context schema declares (a dataclass, a pydantic model or a TypedDict);
    None when there is no schema or it is of a kind that declares none."""
    if schema is None or not isinstance(schema, type):
        return None
    if dataclasses.is_dataclass(schema):
        return {f.name for f in dataclasses.fields(schema)}
    if isinstance(fields := getattr(schema, "model_fields", None), dict):
        return set(fields)
    if hasattr(schema, "__required_keys__"):  # a TypedDict
        return set(getattr(schema, "__required_keys__", ())) | set(
            getattr(schema, "__optional_keys__", ())
        )
    return None


def run_context(schema: Any, context: Json, configurable: Json) -> Json:
    """A run's context, as the reference builds it: the keys of `config.configurable` the
    schema declares, then the run's own `context` over them; only declared keys are kept (the
    reference drops the rest; langgraph would fail building a dataclass or pydantic context
    from unknown keys). Always a dict, even an empty one, so that langgraph builds the schema
    from its defaults: nodes reading `runtime.context.model` get the default model, not None."""
    known = context_keys(schema)
    if known is None:
        return dict(context)
    merged = {k: configurable[k] for k in known if k in configurable}
    merged.update((k, v) for k, v in context.items() if k in known)
    return merged


def coerce_context(schema: Any, context: Json) -> Any:
    """The context as the graph's nodes see it (a dataclass or pydantic model built from the
    dict), for a graph factory's `ServerRuntime`; the dict itself if it does not build."""
    if schema is None or not isinstance(schema, type) or context_keys(schema) is None:
        return context
    if hasattr(schema, "__required_keys__"):  # a TypedDict is a dict
        return context
    try:
        return schema(**context)
    except Exception:
        return context


def run_config(run: Run, spec: RunSpec, attempt: int) -> dict[str, Any]:
    stored = spec.config
    config: dict[str, Any] = {**stored, "configurable": dict(stored.get("configurable") or {})}
    config["metadata"] = {**(stored.get("metadata") or {}), "run_attempt": attempt}
    # The root chain carries the graph's name and the run's id, as clients of `events` and
    # tracers expect (langgraph would call it "LangGraph" and give it a fresh id).
    config["run_name"] = config["configurable"].get("graph_id")
    config["run_id"] = uuid.UUID(run["run_id"])
    if isinstance(user := config["configurable"].get("langgraph_auth_user"), dict):
        # Stored as JSON; graphs get the user object (`runtime.server_info.user`, and
        # `ctx.user.identity` as well as `["identity"]` from the config).
        config["configurable"]["langgraph_auth_user"] = AuthUser(user)
    checkpoint = spec.checkpoint
    if checkpoint:
        config["configurable"].update(
            {k: v for k, v in checkpoint.items() if k != "thread_id" and v is not None}
        )
    return config


async def resume_point(graph: CompiledGraph, run: Run, config: dict[str, Any]) -> dict[str, Any]:
    """A retried run continues from the last checkpoint it wrote, not from its input.

    If it wrote none, it starts over as if new. Otherwise the input (or command) was
    already applied, so the run resumes with no input from the thread's latest checkpoint.
    """
    saver = graph.checkpointer
    if not isinstance(saver, BaseCheckpointSaver):
        return config
    latest = await saver.aget_tuple(thread_config(run["thread_id"]))
    if latest is None or latest.metadata.get("run_id") != run["run_id"]:
        return config
    configurable = {
        k: v
        for k, v in config["configurable"].items()
        if k not in ("checkpoint_id", "checkpoint_ns", "checkpoint_map")
    }
    return {**config, "configurable": configurable, "__distaff_resume__": True}
