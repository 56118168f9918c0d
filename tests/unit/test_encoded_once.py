"""JSON encoded once and reused: `serde.Raw` bytes pass through `dumps` as they are, and a
run's final state (`ThreadSnapshot.values_json`) is encoded for its thread's row and reused
for its `/wait` answer (`RunOutcome.wait_body`)."""

from __future__ import annotations

import json

from langchain_core.messages import AIMessage

from distaff.models import RunOutcome
from distaff.serde import Raw, dumps
from distaff.state import ThreadSnapshot


def test_raw_json_alone_passes_through_and_nested_is_parsed_again() -> None:
    assert dumps(Raw(b'{"b": 1,  "a": [1,2]}')) == b'{"b": 1,  "a": [1,2]}'  # not re-encoded
    # Nested (no caller does it), even on the standard library's path (beyond 64 bits).
    assert json.loads(dumps({"x": Raw(b"[1,2]"), "big": 2**70})) == {"x": [1, 2], "big": 2**70}


def test_a_snapshot_encodes_its_values_once_and_the_answer_reuses_them() -> None:
    values = {"messages": [AIMessage("ok", id="m1")], "n": 2**70, "text": "☃"}
    snapshot = ThreadSnapshot(values, {}, False)
    first = snapshot.values_json()
    assert snapshot.values_json() is first
    assert json.loads(first) == json.loads(dumps(values))
    outcome = RunOutcome("success", values=values, values_json=snapshot.values_json)
    assert dumps(outcome.wait_body()) is first
    # Without the encoding, or for an error, the answer is made as before.
    assert dumps(RunOutcome("success", values=values).wait_body()) == dumps(values)
    error = {"error": "ValueError", "message": "boom"}
    failed = RunOutcome("error", values=values, error=error, values_json=snapshot.values_json)
    assert failed.wait_body() == {"__error__": error}
