"""Request ids, structured logs and OpenTelemetry traces, from a real `distaff serve` that logs
JSON and exports its spans over OTLP/HTTP to a receiver this test runs on loopback."""

from __future__ import annotations

import gzip
import json
import logging
import re
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from distaff.observability import tracing
from distaff.observability.logs import IdsFilter, JsonFormatter, LogIds, TextFormatter, current_ids
from distaff.observability.requests import RequestObservability
from distaff.observability.tracing import requested_exporters
from tests.conftest import ARTIFACTS, database_url
from tests.servers import Server

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
CALLER_SPAN_ID = "b7ad6b7169203331"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
STARTED = "run started (graph agent, attempt 1)"
HI = {"assistant_id": "agent", "input": {"messages": [{"role": "user", "content": "hi"}]}}


class OtlpReceiver:
    """A minimal OTLP/HTTP trace receiver: keeps the spans POSTed to /v1/traces."""

    def __init__(self) -> None:
        self.spans: list[tuple[dict[str, Any], Span]] = []  # (resource attributes, span)
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                request = ExportTraceServiceRequest.FromString(body)
                with receiver.lock:
                    for resource_spans in request.resource_spans:
                        resource = attributes(resource_spans.resource.attributes)
                        for scope_spans in resource_spans.scope_spans:
                            receiver.spans += [(resource, s) for s in scope_spans.spans]
                reply = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200 if self.path == "/v1/traces" else 404)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def wait_for(self, match: Callable[[Span], bool], timeout: float = 10) -> Span:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                found = [s for _, s in self.spans if match(s)]
            if found:
                assert len(found) == 1, found
                return found[0]
            time.sleep(0.05)
        raise AssertionError(f"no such span in {timeout}s; got {[s.name for _, s in self.spans]}")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def attributes(pairs: Any) -> dict[str, Any]:
    return {kv.key: getattr(kv.value, kv.value.WhichOneof("value")) for kv in pairs}


@pytest.fixture(scope="module")
def receiver() -> Iterator[OtlpReceiver]:
    r = OtlpReceiver()
    yield r
    r.close()


@pytest.fixture(scope="module")
def observed(receiver: OtlpReceiver) -> Iterator[Server]:
    """JSON logs, and spans to the receiver: batches leave every 50 ms instead of 5 s."""
    ARTIFACTS.mkdir(exist_ok=True)
    log_path = ARTIFACTS / "server-observability.log"
    log_path.unlink(missing_ok=True)  # the test reads every line: none from an earlier session
    with Server(
        "memory://",
        env={
            "DISTAFF_LOG_FORMAT": "json",
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
            "OTEL_SERVICE_NAME": "distaff-under-test",
            "OTEL_BSP_SCHEDULE_DELAY": "50",
        },
        log_path=log_path,
    ) as srv:
        yield srv


@pytest.fixture
async def api(observed: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with observed.http() as c:
        yield c


def log_lines(server: Server, until: Callable[[list[dict[str, Any]]], bool]) -> list[Any]:
    """The server's log so far, every line parsed as JSON, once `until` holds for it."""
    assert server.log_path is not None
    deadline = time.monotonic() + 10
    while True:
        text = server.log_path.read_text()
        lines = [json.loads(line) for line in text.splitlines() if line.strip()]
        if until(lines) or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


def one(lines: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    found = [line for line in lines if all(line.get(k) == v for k, v in fields.items())]
    assert len(found) == 1, (fields, found)
    return found[0]


def run_id_of(response: httpx.Response) -> str:
    return response.headers["content-location"].rsplit("/", 1)[-1]


# --- logs ----------------------------------------------------------------------------------


async def test_request_ids_are_echoed_or_made(api: httpx.AsyncClient) -> None:
    given = await api.post("/threads", json={}, headers={"X-Request-Id": "client.id-1"})
    assert given.headers["x-request-id"] == "client.id-1"
    made = await api.post("/threads", json={})
    assert UUID.fullmatch(made.headers["x-request-id"])
    # Not a short token: replaced, not echoed into logs and run configs.
    for bad in ("a b", "x" * 200, '"quoted"'):
        r = await api.get("/ok", headers={"X-Request-Id": bad})
        assert UUID.fullmatch(r.headers["x-request-id"]), bad
    # Error responses carry it too.
    missing = await api.get("/threads/00000000-0000-4000-8000-000000000000")
    assert missing.status_code == 404
    assert UUID.fullmatch(missing.headers["x-request-id"])


async def test_json_log_lines_for_requests_and_runs(
    api: httpx.AsyncClient, observed: Server
) -> None:
    thread_id = (await api.post("/threads", json={})).json()["thread_id"]
    await api.get("/ok", headers={"X-Request-Id": "health-check"})
    r = await api.post(
        f"/threads/{thread_id}/runs/wait", json=HI, headers={"X-Request-Id": "logs-test-wait"}
    )
    assert r.status_code == 200, r.text
    run_id = run_id_of(r)
    missing = "00000000-0000-4000-8000-00000000abcd"
    await api.get(f"/threads/{missing}", headers={"X-Request-Id": "logs-test-404"})

    lines = log_lines(observed, lambda ls: any(x.get("request_id") == "logs-test-404" for x in ls))
    assert all(set(line) >= {"time", "level", "logger", "message"} for line in lines)
    assert any(line["logger"].startswith("uvicorn") for line in lines)  # uvicorn's, as JSON

    request = one(lines, logger="distaff.request", request_id="logs-test-wait")
    assert request["level"] == "INFO"
    assert request["method"] == "POST"
    assert request["route"] == "/threads/{thread_id}/runs/wait"
    assert request["path"] == f"/threads/{thread_id}/runs/wait"
    assert request["status"] == 200
    assert request["thread_id"] == thread_id
    assert isinstance(request["duration_ms"], float) and request["duration_ms"] > 0

    started = one(lines, logger="distaff.run", run_id=run_id, message=STARTED)
    ended = one(lines, logger="distaff.run", run_id=run_id, status="success")
    for line in (started, ended):
        # The run's lines name the request that created it.
        assert line["request_id"] == "logs-test-wait"
        assert line["thread_id"] == thread_id
        assert (line["graph_id"], line["attempt"]) == ("agent", 1)
        assert line["assistant_id"] == HI["assistant_id"] or UUID.fullmatch(line["assistant_id"])
    assert ended["duration_ms"] >= 0
    assert lines.index(started) < lines.index(ended) < lines.index(request)

    not_found = one(lines, logger="distaff.request", request_id="logs-test-404")
    assert (not_found["status"], not_found["thread_id"]) == (404, missing)
    assert not_found["route"] == "/threads/{thread_id}"
    # Health checks are DEBUG: not in an INFO log.
    assert not [line for line in lines if line.get("request_id") == "health-check"]


def test_ids_reach_every_record_through_the_filter() -> None:
    """Any logger's lines carry the bound ids; a request's thread id comes from routing."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    handler.addFilter(IdsFilter())
    logger = logging.getLogger("tests.observability")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        logger.info("outside")
        scope: dict[str, Any] = {}
        token = current_ids.set(LogIds("req-1", path_params_of=scope))
        try:
            scope["path_params"] = {"thread_id": "t-1"}  # routed after the ids were bound
            logger.info("inside", extra={"answer": 42})
        finally:
            current_ids.reset(token)
    finally:
        logger.removeHandler(handler)
    outside, inside = records
    assert (outside.request_id, outside.thread_id) == (None, None)  # type: ignore[attr-defined]
    assert json.loads(JsonFormatter().format(inside)) | {"time": None} == {
        "time": None,
        "level": "INFO",
        "logger": "tests.observability",
        "message": "inside",
        "request_id": "req-1",
        "thread_id": "t-1",
        "answer": 42,
    }
    assert TextFormatter().format(inside).endswith(" inside request_id=req-1 thread_id=t-1")


# --- traces --------------------------------------------------------------------------------


def test_tracing_is_on_only_when_asked_for() -> None:
    assert requested_exporters({}) == []
    assert requested_exporters({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}) == ["otlp"]
    assert requested_exporters({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c"}) == ["otlp"]
    assert requested_exporters({"OTEL_TRACES_EXPORTER": "console, otlp"}) == ["console", "otlp"]
    assert (
        requested_exporters({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "x"})
        == []
    )
    assert requested_exporters({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}) == []


async def test_request_and_run_spans(api: httpx.AsyncClient, receiver: OtlpReceiver) -> None:
    thread_id = (await api.post("/threads", json={})).json()["thread_id"]
    # A background run: its request ends before the run does, and its span still parents it.
    created = await api.post(
        f"/threads/{thread_id}/runs",
        json=HI,
        headers={"traceparent": f"00-{TRACE_ID}-{CALLER_SPAN_ID}-01"},
    )
    assert created.status_code == 200, created.text
    run_id = created.json()["run_id"]
    request_id = created.headers["x-request-id"]
    joined = await api.get(f"/threads/{thread_id}/runs/{run_id}/join")
    assert joined.status_code == 200

    def in_trace(name: str) -> Callable[[Span], bool]:
        return lambda s: s.name == name and s.trace_id.hex() == TRACE_ID

    request = receiver.wait_for(in_trace("POST /threads/{thread_id}/runs"))
    assert request.kind == Span.SpanKind.SPAN_KIND_SERVER
    assert request.parent_span_id.hex() == CALLER_SPAN_ID  # the caller's traceparent
    # FastAPI (0.165+) makes the server span itself when a tracer provider is set; distaff
    # adds its ids to it rather than start a second one (one server span per request).
    assert (
        attributes(request.attributes).items()
        >= {
            "http.request.method": "POST",
            "url.path": f"/threads/{thread_id}/runs",
            "http.route": "/threads/{thread_id}/runs",
            "http.response.status_code": 200,
            "distaff.request_id": request_id,
            "distaff.thread_id": thread_id,
        }.items()
    )
    # FastAPI's own spans around the dependencies and the endpoint: a run-creating request is
    # answered by FastAPI's route while its tracing is on (api/creation_route.py).
    endpoint = receiver.wait_for(in_trace("fastapi.endpoint"))
    assert endpoint.parent_span_id == request.span_id
    run = receiver.wait_for(in_trace("run agent"))
    assert run.parent_span_id == request.span_id  # created by that request
    run_attributes = attributes(run.attributes)
    assert run_attributes | {"distaff.assistant_id": None} == {
        "distaff.run_id": run_id,
        "distaff.thread_id": thread_id,
        "distaff.graph_id": "agent",
        "distaff.assistant_id": None,
        "distaff.run.attempt": 1,
        "distaff.request_id": request_id,
        "distaff.run.status": "success",
    }
    assert run.status.code != run.status.STATUS_CODE_ERROR
    assert run.end_time_unix_nano > run.start_time_unix_nano >= request.start_time_unix_nano
    servers = [s for _, s in receiver.spans if s.kind == Span.SpanKind.SPAN_KIND_SERVER]
    assert [s.span_id for s in servers if s.trace_id.hex() == TRACE_ID] == [request.span_id]

    # Every span names the service; a request without a traceparent starts its own trace.
    assert {resource["service.name"] for resource, _ in receiver.spans} == {"distaff-under-test"}
    join = receiver.wait_for(lambda s: s.name == "GET /threads/{thread_id}/runs/{run_id}/join")
    assert join.trace_id.hex() != TRACE_ID and not join.parent_span_id
    assert attributes(join.attributes)["distaff.run_id"] == run_id


async def test_a_failing_run(
    api: httpx.AsyncClient, observed: Server, receiver: OtlpReceiver
) -> None:
    """Lines written while a run executes carry its ids; its span is an error."""
    boom = {"assistant_id": "agent", "input": {"messages": [{"role": "user", "content": "boom"}]}}
    r = await api.post("/runs/wait", json=boom, headers={"X-Request-Id": "logs-test-boom"})
    run_id = run_id_of(r)

    lines = log_lines(observed, lambda ls: any(x.get("status") == "error" for x in ls))
    failed = one(lines, level="ERROR", run_id=run_id)
    assert failed["logger"] == "distaff.run"
    assert failed["request_id"] == "logs-test-boom"
    assert UUID.fullmatch(failed["thread_id"])
    assert "ValueError: boom requested" in failed["exception"]
    assert one(lines, logger="distaff.run", run_id=run_id, status="error")

    run = receiver.wait_for(lambda s: attributes(s.attributes).get("distaff.run_id") == run_id)
    assert attributes(run.attributes)["distaff.run.status"] == "error"
    assert run.status.code == run.status.STATUS_CODE_ERROR


async def test_own_request_span_when_nothing_outside_makes_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without FastAPI's telemetry (older FastAPI, or turned off) distaff's middleware makes
    the server span itself, from the caller's traceparent."""
    provider = TracerProvider()
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(tracing, "_tracer", provider.get_tracer("test"))

    async def thread(request: Request) -> PlainTextResponse:
        status = 500 if request.path_params["thread_id"] == "broken" else 200
        return PlainTextResponse("ok", status_code=status)

    app = RequestObservability(Starlette(routes=[Route("/threads/{thread_id}", thread)]))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://distaff") as c:
        traced = await c.get(
            "/threads/t-1", headers={"traceparent": f"00-{TRACE_ID}-{CALLER_SPAN_ID}-01"}
        )
        await c.get("/threads/broken")
    ok, broken = exporter.get_finished_spans()
    assert ok.name == "GET /threads/{thread_id}"
    assert ok.kind == SpanKind.SERVER
    assert ok.context is not None and ok.parent is not None
    assert f"{ok.context.trace_id:032x}" == TRACE_ID
    assert f"{ok.parent.span_id:016x}" == CALLER_SPAN_ID
    assert dict(ok.attributes or {}) == {
        "http.request.method": "GET",
        "url.path": "/threads/t-1",
        "url.scheme": "http",
        "client.address": "127.0.0.1",
        "distaff.request_id": traced.headers["x-request-id"],
        "distaff.thread_id": "t-1",
        "http.route": "/threads/{thread_id}",
        "http.response.status_code": 200,
    }
    assert ok.status.status_code == StatusCode.UNSET
    assert broken.status.status_code == StatusCode.ERROR
    assert broken.parent is None


async def test_a_run_executed_by_another_process_is_the_creating_requests_child(
    receiver: OtlpReceiver, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """The creating request's span travels with the run (in its configuration), so the span of
    a run that another process executes still hangs under it."""
    url = database_url("postgres", tmp_path, request)
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
        "OTEL_SERVICE_NAME": "distaff-replica",
        "OTEL_BSP_SCHEDULE_DELAY": "50",
    }
    back_log, front_log = (
        ARTIFACTS / "observability-back.log",
        ARTIFACTS / "observability-front.log",
    )
    with (
        Server(url, env=env, log_path=back_log),
        Server(url, env=env, log_path=front_log, args=["--no-worker"]) as front,
    ):
        trace_id = "5bf92f3577b34da6a3ce929d0e0e4737"
        async with front.http() as api_front:
            created = await api_front.post(
                "/runs/wait",
                json=HI,
                headers={"traceparent": f"00-{trace_id}-{CALLER_SPAN_ID}-01"},
            )
        assert created.status_code == 200, created.text

        def in_trace(name: str) -> Callable[[Span], bool]:
            return lambda s: s.name == name and s.trace_id.hex() == trace_id

        request_span = receiver.wait_for(in_trace("POST /runs/wait"))
        run_span = receiver.wait_for(in_trace("run agent"))
        assert run_span.parent_span_id == request_span.span_id
