"""Request and run ids in structured logs, and OpenTelemetry traces when an exporter is
configured: `logs` (formats, the ids' context), `tracing` (spans), `requests` (the HTTP
middleware), `runs` (around a run's execution)."""

from __future__ import annotations

from starlette.applications import Starlette

from distaff.observability import tracing
from distaff.observability.requests import RequestObservability


def install(app: Starlette) -> None:
    """Request ids, request log lines and, when the `OTEL_*` variables ask for traces, request
    spans for `app`. Add it last: the outermost middleware sees every request whole."""
    tracing.configure()
    app.add_middleware(RequestObservability)
