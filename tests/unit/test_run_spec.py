"""`RunSpec`: a run's parameters from its creation body, to the stored `kwargs` JSON and back.

Pure: no server, no database. The stored form is what `GET /runs/{id}` shows, so its keys
and their order are pinned here.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from distaff.models import is_temporary
from distaff.run_spec import V2_STREAM_MODE, RunSpec

CONFIG = {"configurable": {"graph_id": "agent", "run_id": "r1"}, "metadata": {"a": 1}}
CONTEXT = {"model": "m"}
#: The keys every stored run has, in the order clients have always seen them.
BASE_KEYS = [
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
]


def spec(body: dict[str, Any], *, temporary: bool = False, v2: bool = False) -> RunSpec:
    return RunSpec.from_body(body, config=CONFIG, context=CONTEXT, temporary=temporary, v2=v2)


def stored(body: dict[str, Any], **kw: Any) -> dict[str, Any]:
    return spec(body, **kw).to_stored()


# -- defaults ----------------------------------------------------------------------------------


def test_defaults() -> None:
    default = RunSpec()
    assert default.stream_mode == ("values",)
    assert default.durability == "async"
    assert default.checkpoint_during is True
    assert default.on_completion == "delete"
    assert (default.temporary, default.subgraphs, default.resumable, default.v2) == (
        False,
        False,
        False,
        False,
    )
    assert default.config == {} and default.context == {}
    assert default.input is None and default.command is None and default.checkpoint is None
    assert default.deletes_thread is False


def test_an_empty_body_stores_the_defaults_in_order() -> None:
    assert stored({}) == {
        "input": None,
        "command": None,
        "config": CONFIG,
        "context": CONTEXT,
        "stream_mode": ["values"],
        "interrupt_before": None,
        "interrupt_after": None,
        "webhook": None,
        "feedback_keys": None,
        "temporary": False,
        "subgraphs": False,
        "resumable": False,
        "checkpoint_during": True,
        "durability": "async",
    }
    assert list(stored({})) == BASE_KEYS


def test_an_empty_stored_kwargs_reads_as_the_defaults() -> None:
    assert RunSpec.from_stored({}) == RunSpec()


# -- each field from the body ------------------------------------------------------------------


def test_input_command_config_and_context_pass_through() -> None:
    command = {"resume": {"i1": "yes"}, "goto": [{"node": "n", "input": 1}]}
    s = spec({"input": {"messages": []}, "command": command})
    assert s.input == {"messages": []}
    assert s.command == command
    assert s.config is CONFIG and s.context is CONTEXT


@pytest.mark.parametrize(
    ("given", "modes"),
    [
        (None, ("values",)),
        ([], ("values",)),
        ("updates", ("updates",)),
        (["messages-tuple", "values"], ("messages-tuple", "values")),
    ],
)
def test_stream_mode(given: Any, modes: tuple[str, ...]) -> None:
    body = {} if given is None else {"stream_mode": given}
    assert spec(body).stream_mode == modes
    assert stored(body)["stream_mode"] == list(modes)


@pytest.mark.parametrize(
    ("given", "parsed"), [(None, None), ("*", "*"), (["a", "b"], ("a", "b")), ([], ())]
)
def test_interrupts(given: Any, parsed: Any) -> None:
    s = spec({"interrupt_before": given, "interrupt_after": given})
    assert s.interrupt_before == parsed and s.interrupt_after == parsed
    assert stored({"interrupt_before": given})["interrupt_before"] == given


def test_webhook_and_feedback_keys() -> None:
    s = spec({"webhook": "http://hook", "feedback_keys": ["thumbs"]})
    assert s.webhook == "http://hook"
    assert s.feedback_keys == ("thumbs",)
    assert stored({"feedback_keys": ["thumbs"]})["feedback_keys"] == ["thumbs"]


def test_subgraphs_and_resumable_come_from_the_stream_flags() -> None:
    s = spec({"stream_subgraphs": True, "stream_resumable": True})
    assert (s.subgraphs, s.resumable) == (True, True)
    assert (spec({}).subgraphs, spec({}).resumable) == (False, False)


@pytest.mark.parametrize(
    ("body", "durability", "checkpoint_during"),
    [
        ({}, "async", True),
        ({"durability": "sync"}, "sync", True),
        ({"durability": "exit"}, "exit", False),
        ({"checkpoint_during": False}, "exit", False),
        ({"checkpoint_during": True}, "async", True),
        ({"checkpoint_during": None}, "async", True),
        # `durability` wins over the older `checkpoint_during`.
        ({"durability": "sync", "checkpoint_during": False}, "sync", True),
    ],
)
def test_durability(body: dict[str, Any], durability: str, checkpoint_during: bool) -> None:
    s = spec(body)
    assert (s.durability, s.checkpoint_during) == (durability, checkpoint_during)
    assert stored(body)["durability"] == durability
    assert stored(body)["checkpoint_during"] is checkpoint_during


def test_checkpoint() -> None:
    ref = {"checkpoint_id": "c1", "checkpoint_ns": ""}
    assert spec({"checkpoint": ref}).checkpoint == ref
    assert spec({"checkpoint_id": "c2"}).checkpoint == {"checkpoint_id": "c2"}
    # The whole reference wins over a bare id.
    assert spec({"checkpoint": ref, "checkpoint_id": "c2"}).checkpoint == ref
    assert spec({}).checkpoint is None
    assert "checkpoint" not in stored({})
    assert list(stored({"checkpoint_id": "c2"})) == [*BASE_KEYS, "checkpoint"]


def test_on_completion_is_a_stateless_runs_only() -> None:
    assert stored({}, temporary=True)["on_completion"] == "delete"
    assert stored({"on_completion": "keep"}, temporary=True)["on_completion"] == "keep"
    # A run on an existing thread ignores it (its thread is not its own).
    s = spec({"on_completion": "keep"})
    assert s.on_completion == "delete" and "on_completion" not in s.to_stored()


@pytest.mark.parametrize(
    ("temporary", "on_completion", "deletes"),
    [(True, "delete", True), (True, "keep", False), (False, "delete", False)],
)
def test_deletes_thread(temporary: bool, on_completion: str, deletes: bool) -> None:
    s = spec({"on_completion": on_completion}, temporary=temporary)
    assert s.deletes_thread is deletes
    assert is_temporary(s.to_stored()) is deletes


def test_a_v2_run_streams_every_channel_and_is_not_resumable() -> None:
    s = spec({"stream_mode": "updates", "stream_resumable": True}, v2=True)
    assert s.stream_mode == V2_STREAM_MODE
    assert (s.v2, s.subgraphs, s.resumable) == (True, True, False)
    out = s.to_stored()
    assert out["stream_mode"] == [
        *"values updates messages tools lifecycle custom tasks checkpoints".split()
    ]
    assert list(out) == [*BASE_KEYS, "v2"]
    assert out["v2"] is True
    assert "v2" not in stored({})


def test_the_optional_keys_come_last_in_order() -> None:
    out = stored({"checkpoint_id": "c"}, temporary=True, v2=True)
    assert list(out) == [*BASE_KEYS, "v2", "checkpoint", "on_completion"]


# -- through the stored JSON -------------------------------------------------------------------

BODIES: list[dict[str, Any]] = [
    {},
    {"input": {"n": 1}, "stream_mode": "updates", "webhook": "http://w"},
    {"command": {"resume": "x"}, "interrupt_before": "*", "interrupt_after": ["a"]},
    {"feedback_keys": ["k"], "stream_subgraphs": True, "stream_resumable": True},
    {"durability": "exit", "checkpoint": {"checkpoint_id": "c", "checkpoint_ns": ""}},
    {"checkpoint_during": False, "on_completion": "keep", "interrupt_before": []},
]


@pytest.mark.parametrize("body", BODIES)
@pytest.mark.parametrize("temporary", [False, True])
@pytest.mark.parametrize("v2", [False, True])
def test_round_trip_through_the_stored_json(
    body: dict[str, Any], temporary: bool, v2: bool
) -> None:
    original = spec(body, temporary=temporary, v2=v2)
    text = json.dumps(original.to_stored())
    back = RunSpec.from_stored(json.loads(text))
    assert back == original
    assert json.dumps(back.to_stored()) == text


def test_an_old_stored_run_without_the_newer_keys() -> None:
    """A run stored before `v2` existed (and one with only its first keys) still loads."""
    old = {
        "input": {"messages": [{"role": "user", "content": "hi"}]},
        "command": None,
        "config": CONFIG,
        "context": {},
        "stream_mode": ["messages-tuple"],
        "interrupt_before": None,
        "interrupt_after": None,
        "webhook": None,
        "feedback_keys": None,
        "temporary": True,
        "subgraphs": False,
        "resumable": True,
        "checkpoint_during": True,
        "durability": "async",
        "on_completion": "delete",
    }
    s = RunSpec.from_stored(old)
    assert s.v2 is False
    assert (s.stream_mode, s.resumable, s.deletes_thread) == (("messages-tuple",), True, True)
    assert s.to_stored() == old and list(s.to_stored()) == list(old)

    sparse = RunSpec.from_stored({"input": 1, "config": CONFIG})
    assert sparse == RunSpec(input=1, config=CONFIG)


def test_nulls_read_as_defaults() -> None:
    nulls = dict.fromkeys(
        ["config", "context", "stream_mode", "durability", "checkpoint", "temporary", "v2"]
    )
    assert RunSpec.from_stored(nulls) == RunSpec()


def test_unknown_keys_survive_after_the_known_ones() -> None:
    newer = {**stored({}), "from_a_newer_version": {"x": 1}}
    s = RunSpec.from_stored(newer)
    assert s.extra == {"from_a_newer_version": {"x": 1}}
    assert list(s.to_stored()) == [*BASE_KEYS, "from_a_newer_version"]
    assert s.to_stored() == newer
