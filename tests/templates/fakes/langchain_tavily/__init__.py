"""A stand-in for `langchain_tavily`, on the import path of the template test servers only.

react-agent's `search` tool builds `TavilySearch(max_results=...)` and awaits
`ainvoke({"query": ...})`. This `TavilySearch` answers offline, with a dict of the real one's
shape: `max_results` made-up results, each naming the query and its rank, so a test can check
both that the tool ran and that the context's `max_search_results` (default 10) reached it.
"""

from __future__ import annotations

import os
from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManagerForToolRun,
    CallbackManagerForToolRun,
)
from langchain_core.tools import BaseTool
from pydantic import BaseModel, ConfigDict, Field

__all__ = ["TavilySearch"]


class TavilySearchInput(BaseModel):
    query: str = Field(description="Search query to look up")


class TavilySearch(BaseTool):
    """Deterministic fake of `langchain_tavily.TavilySearch`: no network."""

    name: str = "tavily_search"
    description: str = "A search engine (fake: made-up results, no network)."
    args_schema: type[BaseModel] = TavilySearchInput
    max_results: int = 5
    tavily_api_key: str | None = None

    model_config = ConfigDict(extra="ignore")

    def model_post_init(self, context: Any, /) -> None:
        if not (self.tavily_api_key or os.environ.get("TAVILY_API_KEY")):
            raise ValueError("TAVILY_API_KEY is not set (fake langchain_tavily)")

    def _results(self, query: str) -> dict[str, Any]:
        return {
            "query": query,
            "follow_up_questions": None,
            "answer": None,
            "images": [],
            "results": [
                {
                    "url": f"https://search.invalid/{rank}",
                    "title": f"Fake result {rank} for {query!r}",
                    "content": f"Made-up page {rank} about {query}.",
                    "score": round(1.0 - rank / 100, 2),
                    "raw_content": None,
                }
                for rank in range(1, self.max_results + 1)
            ],
            "response_time": 0.0,
        }

    def _run(
        self, query: str, run_manager: CallbackManagerForToolRun | None = None
    ) -> dict[str, Any]:
        return self._results(query)

    async def _arun(
        self, query: str, run_manager: AsyncCallbackManagerForToolRun | None = None
    ) -> dict[str, Any]:
        return self._results(query)
