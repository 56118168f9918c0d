"""Token usage without LangSmith: a callback on each run that reads what its models report, and
this process's running totals by assistant and model (for `/metrics`).

The callback sees every chat model and LLM call made under the run's config: the graph's nodes,
its subgraphs, tools that call models. It ignores every other callback event (chains, tools,
retrievers), so a graph without models pays for one handler langchain skips, and it runs inline
(not in the thread pool langchain uses for sync handlers on an async run).
"""

from __future__ import annotations

import threading
from typing import Any

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.outputs import LLMResult

from distaff import usage as usage_json
from distaff.models import Json


class UsageRecorder(BaseCallbackHandler):
    """One run's token usage, by model."""

    run_inline = True

    def __init__(self) -> None:
        self._by_model: dict[str, dict[str, int]] = {}
        # Sync models in sync nodes report from the executor's threads.
        self._lock = threading.Lock()

    @property
    def ignore_chain(self) -> bool:
        return True

    @property
    def ignore_agent(self) -> bool:
        return True

    @property
    def ignore_retriever(self) -> bool:
        return True

    @property
    def ignore_retry(self) -> bool:
        return True

    @property
    def ignore_custom_event(self) -> bool:
        return True

    def on_chat_model_start(self, serialized: Any, messages: Any, **kwargs: Any) -> None:
        """Nothing to do; defined so that langchain does not fall back to `on_llm_start`,
        which renders the whole conversation as a string for every model call."""

    def on_llm_end(self, response: LLMResult, **kwargs: Any) -> None:
        fallback = (response.llm_output or {}).get("model_name")
        for generations in response.generations:
            for generation in generations:
                message = getattr(generation, "message", None)
                reported = getattr(message, "usage_metadata", None)
                if not reported:
                    continue
                meta = getattr(message, "response_metadata", None) or {}
                model = str(meta.get("model_name") or meta.get("model") or fallback or "unknown")
                with self._lock:
                    entry = self._by_model.setdefault(model, dict.fromkeys(usage_json.FIELDS, 0))
                    for key in usage_json.COUNTS:
                        value = reported.get(key)
                        if isinstance(value, int):
                            entry[key] += value
                    entry["calls"] += 1

    def usage(self) -> Json | None:
        with self._lock:
            return usage_json.from_models(self._by_model)


class UsageTally:
    """Tokens counted by the runs this process executed, by assistant (each a `distaff.usage`
    sum, by model), since it started: Prometheus counters, summed across replicas by whoever
    scrapes them."""

    def __init__(self) -> None:
        self.by_assistant: dict[str, Json] = {}

    def add(self, assistant_id: str, usage: Json | None) -> None:
        if usage is not None:
            usage_json.add(self.by_assistant.setdefault(assistant_id, usage_json.empty()), usage)

    def rows(self) -> list[tuple[tuple[str, str], dict[str, int]]]:
        """`((assistant_id, model), figures)`, sorted."""
        return sorted(
            ((assistant_id, model), figures)
            for assistant_id, total in self.by_assistant.items()
            for model, figures in total["by_model"].items()
        )
