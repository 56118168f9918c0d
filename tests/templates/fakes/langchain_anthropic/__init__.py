"""A stand-in for `langchain_anthropic`, on the import path of the template test servers only.

`init_chat_model("claude-...", model_provider="anthropic")` (the templates' `load_chat_model`)
imports `langchain_anthropic.ChatAnthropic` and builds it with `model=...`: this module gives it
a deterministic chat model that calls no network. It binds tools, answers `ainvoke` and streams
token by token (tool calls as `tool_call_chunks`), like the real one.

How it answers, so that tests know what to expect:

- after tool results (the last messages are `ToolMessage`s): a final answer that quotes them;
- to a user message that is not a question, when tools are bound: a call of the first tool, each
  required string argument set to the user's text;
- otherwise (a question, or no tools): an answer that repeats the user's text and, when the
  system prompt holds a `<memories>...</memories>` block (memory-agent), what is in it.

Every answer starts with `[fake <model>]`, so a test can tell which model name the graph asked for.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManagerForLLMRun,
    CallbackManagerForLLMRun,
)
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import ConfigDict

__all__ = ["ChatAnthropic"]

MEMORIES = re.compile(r"<memories>\s*(.*?)\s*</memories>", re.DOTALL)


def _text(message: BaseMessage) -> str:
    content = message.content
    if isinstance(content, str):
        return content
    return "".join(part if isinstance(part, str) else str(part.get("text", "")) for part in content)


def _summary(tool_output: str) -> str:
    """A short account of a tool's output (a Tavily-style result dict, or any text)."""
    try:
        data = json.loads(tool_output)
    except ValueError:
        return tool_output[:300]
    if isinstance(data, dict) and isinstance(data.get("results"), list) and data["results"]:
        first = data["results"][0]
        title = first.get("title") if isinstance(first, dict) else first
        return f"{len(data['results'])} results, the first: {title}"
    return tool_output[:300]


class ChatAnthropic(BaseChatModel):
    """Deterministic fake of `langchain_anthropic.ChatAnthropic` (see the module docstring)."""

    model: str = "claude-fake"
    api_key: str | None = None

    # The real class takes temperature, max_tokens, timeout...: accepted and ignored.
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    def model_post_init(self, context: Any, /) -> None:
        # The real class refuses to start without a key; so does this one, so that a test
        # server missing the environment the templates document fails the same way.
        if not (self.api_key or os.environ.get("ANTHROPIC_API_KEY")):
            raise ValueError("ANTHROPIC_API_KEY is not set (fake langchain_anthropic)")

    @property
    def _llm_type(self) -> str:
        return "fake-anthropic-chat"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model": self.model}

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Any],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        formatted = [convert_to_openai_tool(tool) for tool in tools]
        return self.bind(tools=formatted, **kwargs)

    # -- the answer -------------------------------------------------------------------------

    def _reply(self, messages: list[BaseMessage], tools: list[dict[str, Any]] | None) -> AIMessage:
        who = f"[fake {self.model}]"
        results: list[str] = []
        for message in reversed(messages):
            if not isinstance(message, ToolMessage):
                break
            results.insert(0, _text(message))
        if results:
            said = "; ".join(_summary(r) for r in results)
            return AIMessage(content=f"{who} The tool said: {said}")

        last = messages[-1] if messages else None
        user = _text(last) if last is not None and last.type == "human" else ""
        if tools and user and not user.rstrip().endswith("?"):
            function = tools[0]["function"]
            parameters = function.get("parameters", {})
            properties = parameters.get("properties", {})
            args = {
                name: user
                for name in parameters.get("required", [])
                if properties.get(name, {}).get("type") == "string"
            }
            digest = hashlib.sha256(f"{function['name']}:{user}".encode()).hexdigest()[:20]
            return AIMessage(
                content="",
                tool_calls=[{"name": function["name"], "args": args, "id": f"toolu_{digest}"}],
            )

        answer = f"{who} You said: {user}"
        system = "\n".join(_text(m) for m in messages if m.type == "system")
        if found := MEMORIES.search(system):
            answer += f" I remember: {found.group(1)}"
        return AIMessage(content=answer)

    def _chunks(self, reply: AIMessage) -> Iterator[AIMessageChunk]:
        if reply.tool_calls:
            call = reply.tool_calls[0]
            args = json.dumps(call["args"])
            half = len(args) // 2
            yield AIMessageChunk(
                content="",
                tool_call_chunks=[
                    {"name": call["name"], "args": args[:half], "id": call["id"], "index": 0}
                ],
            )
            yield AIMessageChunk(
                content="",
                tool_call_chunks=[{"name": None, "args": args[half:], "id": None, "index": 0}],
                chunk_position="last",
            )
            return
        tokens = re.findall(r"\S+\s*", str(reply.content)) or [""]
        for i, token in enumerate(tokens):
            last = i == len(tokens) - 1
            yield AIMessageChunk(content=token, chunk_position="last" if last else None)

    # -- BaseChatModel ------------------------------------------------------------------------

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        reply = self._reply(messages, kwargs.get("tools"))
        return ChatResult(generations=[ChatGeneration(message=reply)])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        for chunk in self._chunks(self._reply(messages, kwargs.get("tools"))):
            generation = ChatGenerationChunk(message=chunk)
            if run_manager is not None:
                run_manager.on_llm_new_token(str(chunk.content), chunk=generation)
            yield generation

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        for chunk in self._chunks(self._reply(messages, kwargs.get("tools"))):
            generation = ChatGenerationChunk(message=chunk)
            if run_manager is not None:
                await run_manager.on_llm_new_token(str(chunk.content), chunk=generation)
            yield generation
