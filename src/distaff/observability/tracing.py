"""OpenTelemetry spans for requests and runs, on when the standard `OTEL_*` variables ask for
an exporter (`OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or
`OTEL_TRACES_EXPORTER`), or when a tracer provider is installed already.

Off, which is the default, tracing costs one boolean test per request and per run: no span,
context or carrier is built. Only `opentelemetry-api` is imported here; the SDK and the OTLP
exporter (distaff's `otel` extra) are imported when tracing is configured.

A run's span is the child of the span of the request that created it when this process
served that request: the run remembers its creator's request id (`langgraph_request_id`), and
the request spans of recent requests are kept by request id. A run created elsewhere (another
replica, an API-only process) starts a trace of its own and names its creator's request id in
`distaff.request_id`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, MutableMapping
from contextvars import Token
from typing import TYPE_CHECKING, Any

from opentelemetry import context, propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from distaff.version import __version__

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

log = logging.getLogger("distaff.tracing")

_configured = False
_tracer: trace.Tracer | None = None
#: Request id -> span context of the request spans this process started, newest last. Bounded:
#: a run is claimed moments after its request, unless it waits its turn behind others.
_REQUEST_SPANS_KEPT = 4096
_request_spans: dict[str, trace.SpanContext] = {}


def enabled() -> bool:
    return _tracer is not None


def requested_exporters(environ: Mapping[str, str]) -> list[str]:
    """The span exporters the `OTEL_*` variables ask for; empty when tracing is off."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    names = [
        name.strip().lower()
        for name in environ.get("OTEL_TRACES_EXPORTER", "").split(",")
        if name.strip()
    ]
    if names:
        return [] if "none" in names else names
    if environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or environ.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    ):
        return ["otlp"]
    return []


def configure() -> bool:
    """Set tracing up, once per process; returns whether it is on.

    A tracer provider someone installed already (`opentelemetry-instrument`, an application
    embedding distaff) is used as it is. Otherwise, when the `OTEL_*` variables ask for an
    exporter, distaff installs the SDK's provider with it. A missing SDK or an unknown
    exporter is a warning, not a failure: telemetry never stops the server.
    """
    global _configured, _tracer
    if _configured:
        return enabled()
    _configured = True
    provider = trace.get_tracer_provider()
    if isinstance(provider, trace.NoOpTracerProvider):
        return False
    if isinstance(provider, trace.ProxyTracerProvider):  # none installed yet
        exporters = requested_exporters(os.environ)
        sdk_provider = _sdk_provider(exporters) if exporters else None
        if sdk_provider is None:
            return False
        trace.set_tracer_provider(sdk_provider)
    _tracer = trace.get_tracer("distaff", __version__)
    return True


def _sdk_provider(exporters: list[str]) -> TracerProvider | None:
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError as exc:
        log.warning(
            "tracing is asked for (OTEL_* variables) but opentelemetry-sdk is missing"
            " (pip install 'distaff[otel]'): not tracing (%s)",
            exc,
        )
        return None
    # OTEL_SERVICE_NAME, then OTEL_RESOURCE_ATTRIBUTES' service.name, then "distaff".
    resource = Resource.create()
    if str(resource.attributes.get("service.name", "")).startswith("unknown_service"):
        resource = resource.merge(Resource({"service.name": "distaff"}))
    processors = [BatchSpanProcessor(e) for name in exporters if (e := _exporter(name))]
    if not processors:
        return None
    provider = TracerProvider(resource=resource)  # flushes its batches at exit
    for processor in processors:
        provider.add_span_processor(processor)
    return provider


def _exporter(name: str) -> SpanExporter | None:
    try:
        if name == "console":
            from opentelemetry.sdk.trace.export import ConsoleSpanExporter

            return ConsoleSpanExporter()
        if name != "otlp":
            log.warning("OTEL_TRACES_EXPORTER: unknown exporter %r (known: otlp, console)", name)
            return None
        protocol = (
            os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
            or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
            or "http/protobuf"
        )
        if protocol == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (  # type: ignore[import-not-found,unused-ignore]
                OTLPSpanExporter as GrpcSpanExporter,
            )

            return GrpcSpanExporter()  # type: ignore[no-any-return,unused-ignore]
        if protocol != "http/protobuf":
            log.warning("OTLP protocol %r is not supported (http/protobuf, grpc)", protocol)
            return None
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        # The endpoint, headers, timeout and compression come from the OTEL_EXPORTER_OTLP_*
        # variables, read by the exporter itself.
        return OTLPSpanExporter()
    except ImportError as exc:
        log.warning(
            "the %s span exporter is not installed (pip install 'distaff[otel]'): %s", name, exc
        )
        return None


def _remember(request_id: str, span_context: trace.SpanContext) -> None:
    spans = _request_spans
    spans.pop(request_id, None)  # a reused request id: the newest request wins
    spans[request_id] = span_context
    if len(spans) > _REQUEST_SPANS_KEPT:
        del spans[next(iter(spans))]


class RequestSpan:
    """The server span of one HTTP request, current while the request is handled.

    When an outer layer made one already (FastAPI's own telemetry, from 0.165, does whenever a
    tracer provider is set; so does an ASGI instrumentation), that span is the request's: it
    gets distaff's attributes and no second span is started.
    """

    __slots__ = ("_method", "_own", "_span", "_token")

    def __init__(self, scope: MutableMapping[str, Any], request_id: str) -> None:
        assert _tracer is not None
        self._method = method = scope["method"]
        self._token: Token[context.Context] | None = None
        outer = trace.get_current_span()
        self._own = not outer.is_recording()
        if not self._own:
            self._span = outer
            outer.set_attribute("distaff.request_id", request_id)
        else:
            carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
            parent = propagate.extract(carrier)  # W3C traceparent (or OTEL_PROPAGATORS')
            attributes: dict[str, Any] = {
                "http.request.method": method,
                "url.path": scope["path"],
                "url.scheme": scope.get("scheme", "http"),
                "distaff.request_id": request_id,
            }
            if client := scope.get("client"):
                attributes["client.address"] = client[0]
            # Named by the method until routing tells the route template.
            self._span = _tracer.start_span(
                method, context=parent, kind=SpanKind.SERVER, attributes=attributes
            )
            self._token = context.attach(trace.set_span_in_context(self._span, parent))
        _remember(request_id, self._span.get_span_context())

    def responding(self, path_params: Mapping[str, Any] | None) -> None:
        """The response starts: routing is done. An outer layer may end its span as soon as
        the body is sent, so the ids go on now."""
        if path_params:
            for name in ("thread_id", "run_id", "assistant_id"):
                if (value := path_params.get(name)) is not None:
                    self._span.set_attribute(f"distaff.{name}", str(value))

    def end(self, route: str | None, status: int, error: BaseException | None) -> None:
        if not self._own:
            return  # its owner names it, sets its status and ends it
        span = self._span
        try:
            if route is not None:
                span.update_name(f"{self._method} {route}")
                span.set_attribute("http.route", route)
            span.set_attribute("http.response.status_code", status)
            if isinstance(error, Exception):
                span.record_exception(error)
                span.set_attribute("error.type", type(error).__qualname__)
                span.set_status(Status(StatusCode.ERROR, str(error)))
            elif status >= 500:
                span.set_attribute("error.type", str(status))
                span.set_status(Status(StatusCode.ERROR))
            span.end()
        finally:
            if self._token is not None:
                context.detach(self._token)


#: Where a run keeps, in `config.configurable`, the span of the request that created it.
TRACEPARENT_KEY = "__distaff_traceparent__"


def traceparent_of(request_id: str | None) -> str | None:
    """The W3C `traceparent` of this process's request `request_id`, for a run it creates: the
    run's span is that request's child in whichever process executes it."""
    if _tracer is None or request_id is None:
        return None
    span_context = _request_spans.get(request_id)
    if span_context is None or not span_context.is_valid:
        return None
    flags = int(span_context.trace_flags)
    return f"00-{span_context.trace_id:032x}-{span_context.span_id:016x}-{flags:02x}"


class RunSpan:
    """The span of one run's execution (one attempt), current while its graph runs, so spans
    the graph's own instrumentation opens nest under it."""

    __slots__ = ("_span", "_token")

    def __init__(self, name: str, traceparent: str | None, attributes: dict[str, Any]) -> None:
        assert _tracer is not None
        # Not the worker's context: it is no request's child. The creating request's span
        # when the run recorded it, else a trace of its own.
        parent = context.Context()
        if traceparent:
            parent = TraceContextTextMapPropagator().extract({"traceparent": traceparent})
        self._span = _tracer.start_span(name, context=parent, attributes=attributes)
        self._token = context.attach(trace.set_span_in_context(self._span))

    def end(self, status: str, error: BaseException | None) -> None:
        span = self._span
        try:
            span.set_attribute("distaff.run.status", status)
            if isinstance(error, Exception):
                span.record_exception(error)
            if status in ("error", "timeout") or isinstance(error, Exception):
                span.set_status(Status(StatusCode.ERROR, status))
            span.end()
        finally:
            context.detach(self._token)
