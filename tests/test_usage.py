"""Token usage without LangSmith: each run records what its models reported, returns it with
the run and in the `X-Distaff-Usage` header of `/runs/wait` (asked for with `Prefer: usage`),
and the API sums it per thread and per assistant; `/metrics` counts it by assistant and model.

The `strict_agent` graph's fake model reports 10 input tokens per message it is given and 3
output tokens per word it answers (4 for a tool call), as `strict-fake-1`.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import httpx
from langgraph_sdk.client import LangGraphClient

MODEL = "strict-fake-1"
PREFER = {"Prefer": "usage"}


def _msg(text: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}]}


def _usage(input_tokens: int, output_tokens: int, calls: int) -> dict[str, Any]:
    figures = {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "total_tokens": input_tokens + output_tokens,
    }
    return {**figures, "by_model": {MODEL: {**figures, "calls": calls}}}


# "weather now": a tool call (10 in: one message; 4 out), then "The tool said: sunny, for
# weather now" (30 in: three messages; 7 words, 21 out).
WEATHER = _usage(40, 25, 2)
# "hi" as the thread's second turn: five messages in, "You said: hi" out.
SECOND = _usage(50, 9, 1)
# "hello" on a thread of its own (stateless): one message in, "You said: hello" out.
STATELESS = _usage(10, 9, 1)


async def test_usage_per_run_thread_assistant_and_metrics(
    client: LangGraphClient, http: httpx.AsyncClient
) -> None:
    # An assistant of its own, so that its totals are this test's alone on a shared server.
    assistant = await client.assistants.create("strict_agent", name=f"usage-{uuid.uuid4().hex}")
    aid = assistant["assistant_id"]
    tid = (await client.threads.create())["thread_id"]

    answer = await http.post(
        f"/threads/{tid}/runs/wait",
        json={"assistant_id": aid, "input": _msg("weather now")},
        headers=PREFER,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["messages"][-1]["content"] == "The tool said: sunny, for weather now"
    assert json.loads(answer.headers["x-distaff-usage"]) == WEATHER
    run_id = answer.headers["content-location"].rsplit("/", 1)[-1]
    assert (await client.runs.get(tid, run_id))["usage"] == WEATHER
    # A join of the run once it ended reads the usage stored with it.
    joined = await http.get(f"/threads/{tid}/runs/{run_id}/join", headers=PREFER)
    assert json.loads(joined.headers["x-distaff-usage"]) == WEATHER

    await client.runs.wait(tid, aid, input=_msg("hi"))
    runs = await client.runs.list(tid)
    assert sorted((r["usage"] for r in runs), key=lambda u: u["input_tokens"]) == [WEATHER, SECOND]
    thread_usage = (await http.get(f"/threads/{tid}/usage")).json()
    assert thread_usage == {"thread_id": tid, **_usage(90, 34, 3)}

    stateless = await http.post(
        "/runs/wait", json={"assistant_id": aid, "input": _msg("hello")}, headers=PREFER
    )
    assert json.loads(stateless.headers["x-distaff-usage"]) == STATELESS
    # The assistant's totals keep the stateless run's, whose thread is gone, and outlive the
    # thread's deletion.
    await client.threads.delete(tid)
    everything = _usage(100, 43, 4)
    totals = (await http.get(f"/assistants/{aid}/usage")).json()
    assert totals == {"assistant_id": aid, **everything}

    report = (await http.get("/metrics", params={"format": "json"})).json()
    mine = [row for row in report["tokens"] if row["assistant_id"] == aid]
    assert mine == [
        {"assistant_id": aid, "model": MODEL, **everything["by_model"][MODEL]},
    ]
    text = (await http.get("/metrics")).text
    labels = f'assistant_id="{aid}",kind="output",model="{MODEL}"'
    assert re.search(rf"^distaff_tokens_total\{{{labels}\}} 43\.0$", text, re.M), text[-2000:]


async def test_a_run_without_models_has_no_usage(
    client: LangGraphClient, http: httpx.AsyncClient
) -> None:
    tid = (await client.threads.create())["thread_id"]
    answer = await http.post(
        f"/threads/{tid}/runs/wait",
        json={"assistant_id": "trivial", "input": _msg("x")},
        headers=PREFER,
    )
    assert answer.status_code == 200
    empty = {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0, "by_model": {}}
    assert json.loads(answer.headers["x-distaff-usage"]) == empty
    (run,) = await client.runs.list(tid)
    assert run["usage"] is None
    assert (await http.get(f"/threads/{tid}/usage")).json() == {"thread_id": tid, **empty}
    missing = await http.get(f"/threads/{uuid.uuid4()}/usage")
    assert missing.status_code == 404 and "detail" in missing.json()
    assert (await http.get(f"/assistants/{uuid.uuid4()}/usage")).status_code == 404


async def test_without_prefer_the_head_goes_out_at_once_without_usage(
    client: LangGraphClient, http: httpx.AsyncClient
) -> None:
    """As the reference answers `/wait`: the head before the run ends (the run still going
    when it arrives), newlines meanwhile; and so a head without usage."""
    tid = (await client.threads.create())["thread_id"]
    body = {"assistant_id": "slow", "input": _msg("3")}
    async with http.stream("POST", f"/threads/{tid}/runs/wait", json=body) as answer:
        run_id = answer.headers["content-location"].rsplit("/", 1)[-1]
        assert (await client.runs.get(tid, run_id))["status"] in ("pending", "running")
        assert "x-distaff-usage" not in answer.headers
        await answer.aread()
    joined = await http.get(f"/threads/{tid}/runs/{run_id}/join", headers=PREFER)
    assert json.loads(joined.headers["x-distaff-usage"])["total_tokens"] == 0
