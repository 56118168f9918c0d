from __future__ import annotations

from langgraph_sdk.client import LangGraphClient


async def test_wait_stateless_returns_final_values(client: LangGraphClient) -> None:
    result = await client.runs.wait(
        None, "trivial", input={"messages": [{"role": "user", "content": "hi"}]}
    )
    assert isinstance(result, dict)
    assert [m["content"] for m in result["messages"]] == ["hi", "ok"]
