"""`/metrics`: request counts and latencies, queue depth and workers, in Prometheus text or
JSON. Each app has its own registry, so two apps in one process do not share counters."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    gc_collector,
    generate_latest,
    platform_collector,
    process_collector,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from pydantic import BaseModel
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from distaff.api.response_schemas import ERRORS
from distaff.api.responses import JSON, runtime
from distaff.api.routing import Router
from distaff.backends.base import StoredBytes
from distaff.engine.usage import UsageTally
from distaff.errors import InvalidInput
from distaff.runtime import Runtime
from distaff.services.retention import RetentionService

router = Router(tags=["system"], responses=ERRORS)
Rt = Annotated[Runtime, Depends(runtime)]
PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        process_collector.ProcessCollector(registry=self.registry)
        platform_collector.PlatformCollector(registry=self.registry)
        gc_collector.GCCollector(registry=self.registry)
        labels = ("method", "path", "status")
        self.requests = Counter(
            "lg_api_http_requests", "HTTP requests answered", labels, registry=self.registry
        )
        self.latency = Histogram(
            "lg_api_http_requests_latency_seconds",
            "Time to answer an HTTP request (to the end of a streamed body)",
            labels,
            registry=self.registry,
        )
        self.gauges = {
            name: Gauge(f"lg_api_{name}", help_text, registry=self.registry)
            for name, help_text in (
                ("workers_max", "Runs this process may execute at once"),
                ("workers_active", "Runs executing in this process"),
                ("workers_available", "Free run slots in this process"),
                ("runs_pending", "Runs waiting in the queue"),
                ("runs_running", "Runs executing anywhere"),
                ("pending_runs_wait_time_max_seconds", "Longest wait of a due pending run"),
            )
        }

        self.tokens = _TokenCounters()
        self.registry.register(self.tokens)
        self.storage = _StorageGauges()
        self.registry.register(self.storage)

    def observe(self, method: str, path: str, status: int, seconds: float) -> None:
        self.requests.labels(method, path, str(status)).inc()
        self.latency.labels(method, path, str(status)).observe(seconds)

    def request_counts(self) -> list[dict[str, Any]]:
        return [
            {
                "method": sample.labels["method"],
                "path": sample.labels["path"],
                "status": int(sample.labels["status"]),
                "count": int(sample.value),
            }
            for metric in self.requests.collect()
            for sample in metric.samples
            if sample.name.endswith("_total")
        ]


class _TokenCounters(Collector):
    """`distaff_tokens_total{assistant_id, model, kind}` and `distaff_model_calls_total`: the
    tokens (input, output, total) and model answers of the runs this process executed, read
    from the worker's tally when scraped."""

    def __init__(self) -> None:
        self.tally: UsageTally | None = None

    def collect(self) -> Iterator[Metric]:
        tokens = CounterMetricFamily(
            "distaff_tokens",
            "Tokens the models of runs executed here reported, by assistant and model",
            labels=("assistant_id", "model", "kind"),
        )
        calls = CounterMetricFamily(
            "distaff_model_calls",
            "Model answers that reported usage, in runs executed here",
            labels=("assistant_id", "model"),
        )
        for (assistant_id, model), figures in self._rows():
            for kind in ("input", "output", "total"):
                tokens.add_metric((assistant_id, model, kind), figures[f"{kind}_tokens"])
            calls.add_metric((assistant_id, model), figures["calls"])
        yield tokens
        yield calls

    def _rows(self) -> list[tuple[tuple[str, str], dict[str, int]]]:
        return self.tally.rows() if self.tally else []

    def json(self) -> list[dict[str, Any]]:
        return [
            {"assistant_id": assistant_id, "model": model, **figures}
            for (assistant_id, model), figures in self._rows()
        ]


class _StorageGauges(Collector):
    """`distaff_storage_bytes{assistant_id, kind}` (checkpoints, blobs, writes) as of the last
    retention pass, and `distaff_retention_deleted_checkpoints_total`."""

    def __init__(self) -> None:
        self.retention: RetentionService | None = None

    def collect(self) -> Iterator[Metric]:
        stored = GaugeMetricFamily(
            "distaff_storage_bytes",
            "Bytes the threads of each assistant occupy in the checkpointer (last sweep)",
            labels=("assistant_id", "kind"),
        )
        deleted = CounterMetricFamily(
            "distaff_retention_deleted_checkpoints",
            "Checkpoints retention deleted in this process",
        )
        for assistant_id, size in self._rows():
            for kind in ("checkpoint", "blob", "write"):
                stored.add_metric((assistant_id, kind), getattr(size, f"{kind}_bytes"))
        deleted.add_metric((), self.retention.deleted if self.retention else 0)
        yield stored
        yield deleted

    def _rows(self) -> list[tuple[str, StoredBytes]]:
        return sorted(self.retention.storage_by_assistant.items()) if self.retention else []

    def json(self) -> list[dict[str, Any]]:
        return [{"assistant_id": aid, **size.to_json()} for aid, size in self._rows()]


class MetricsMiddleware:
    """Counts every request under its route template (`/threads/{thread_id}`), not its URL, so
    the label set stays small."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            self.metrics.observe(scope["method"], path, status, time.perf_counter() - start)


# The JSON answer, for `/openapi.json` (`response_schemas.py` says why as models).


class QueueStats(BaseModel):
    n_pending: int
    pending_runs_wait_time_max_secs: float | None
    pending_runs_wait_time_med_secs: float | None
    pending_unblocked_runs_wait_time_max_secs: float | None
    n_running: int


class RequestCount(BaseModel):
    method: str
    path: str
    status: int
    count: int


class RequestStats(BaseModel):
    http_requests_total: list[RequestCount]


class WorkerStats(BaseModel):
    max: int
    active: int
    available: int


class TokenCount(BaseModel):
    assistant_id: str
    model: str
    input_tokens: int
    output_tokens: int
    total_tokens: int
    calls: int


class StorageBytes(BaseModel):
    """Bytes the threads of one assistant occupy ("" for threads no run stamped), as of the
    last retention pass."""

    assistant_id: str
    checkpoints: int
    checkpoint_bytes: int
    blob_bytes: int
    write_bytes: int
    total_bytes: int


class MetricsReport(BaseModel):
    """`/metrics?format=json`: the queue, the requests served, the worker's slots, the tokens
    of the runs this process executed (distaff's)."""

    queue: QueueStats
    api: RequestStats
    workers: WorkerStats
    tokens: list[TokenCount]
    storage: list[StorageBytes]


#: Prometheus text by default, JSON with `?format=json`.
BOTH_FORMATS: dict[int | str, dict[str, Any]] = {
    200: {
        "model": MetricsReport,
        "description": "Prometheus text by default, JSON with `?format=json`",
        "content": {"text/plain": {"schema": {"type": "string"}}},
    }
}


@router.get("/metrics", responses=BOTH_FORMATS)
async def metrics(
    request: Request, rt: Rt, format: Annotated[str, Query()] = "prometheus"
) -> Response:
    registry: Metrics = request.app.state.metrics
    stats = await rt.backend.runs.stats()
    worker = rt.worker
    slots, active = (worker.slots, worker.active) if worker is not None else (0, 0)
    registry.tokens.tally = worker.usage if worker is not None else None
    registry.storage.retention = rt.retention
    gauges = registry.gauges
    gauges["workers_max"].set(slots)
    gauges["workers_active"].set(active)
    gauges["workers_available"].set(slots - active)
    gauges["runs_pending"].set(stats.n_pending)
    gauges["runs_running"].set(stats.n_running)
    gauges["pending_runs_wait_time_max_seconds"].set(stats.pending_wait_max or 0)
    if format == "prometheus":
        return Response(generate_latest(registry.registry), media_type=PROMETHEUS_TEXT)
    if format != "json":
        raise InvalidInput("format must be prometheus or json")
    return JSON(
        {
            "queue": {
                "n_pending": stats.n_pending,
                "pending_runs_wait_time_max_secs": stats.pending_wait_max,
                "pending_runs_wait_time_med_secs": stats.pending_wait_median,
                "pending_unblocked_runs_wait_time_max_secs": stats.pending_unblocked_wait_max,
                "n_running": stats.n_running,
            },
            "api": {"http_requests_total": registry.request_counts()},
            "workers": {"max": slots, "active": active, "available": slots - active},
            "tokens": registry.tokens.json(),
            "storage": registry.storage.json(),
        }
    )
