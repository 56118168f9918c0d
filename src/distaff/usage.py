"""Token usage as distaff records and sums it, the same shape for one run, a thread and an
assistant:

    {"input_tokens": 30, "output_tokens": 16, "total_tokens": 46,
     "by_model": {"gpt-4o-mini": {"input_tokens": 30, "output_tokens": 16, "total_tokens": 46,
                                  "calls": 2}}}

A model's figures are what it reported (langchain's `usage_metadata` on the messages it
produced); `calls` counts its answers that reported any.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from distaff.models import Json

COUNTS = ("input_tokens", "output_tokens", "total_tokens")
#: What a model's entry counts: the tokens and the answers.
FIELDS = (*COUNTS, "calls")


def empty() -> Json:
    return {**dict.fromkeys(COUNTS, 0), "by_model": {}}


def from_models(by_model: Mapping[str, Mapping[str, int]]) -> Json | None:
    """The usage of figures per model, or None when no model reported any."""
    if not by_model:
        return None
    out = empty()
    add(out, {"by_model": by_model})
    return out


def add(total: Json, usage: Any) -> None:
    """Add one usage (a run's, say) into `total`, in place; a malformed one adds nothing."""
    by_model = usage.get("by_model") if isinstance(usage, dict) else None
    if not isinstance(by_model, dict):
        return
    for model, figures in by_model.items():
        if not isinstance(figures, dict):
            continue
        entry = total["by_model"].setdefault(str(model), dict.fromkeys(FIELDS, 0))
        for key in FIELDS:
            value = figures.get(key)
            if isinstance(value, int) and not isinstance(value, bool):
                entry[key] += value
                if key in COUNTS:
                    total[key] += value


def summed(usages: Iterable[Any]) -> Json:
    """The sum of many usages (None among them counts nothing)."""
    total = empty()
    for usage in usages:
        add(total, usage)
    return total
