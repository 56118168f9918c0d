"""All of distaff's settings in one typed class; every field can be set as `DISTAFF_<NAME>`."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SQLITE_URL = "sqlite:///.distaff/distaff.sqlite"


class WebhookSettings(BaseModel):
    """Where run webhooks may go and how they are sent (`webhooks` in `langgraph.json`)."""

    require_https: bool = False
    #: Host names allowed (`*.example.com` matches subdomains); empty allows any public host.
    allowed_domains: list[str] = Field(default_factory=list)
    allowed_ports: list[int] = Field(default_factory=list)
    max_url_length: int = 4096
    #: Refuse loopback addresses (127.0.0.0/8, ::1, localhost): on by default, against SSRF.
    disable_loopback: bool = True
    #: Refuse private, link-local and reserved addresses (cloud metadata endpoints included).
    disable_private_ips: bool = True
    #: Headers sent with every webhook (e.g. a shared secret).
    headers: dict[str, str] = Field(default_factory=dict)
    #: Delivery attempts in all, and the first backoff (doubled after each failure).
    attempts: int = Field(default=4, ge=1)
    retry_seconds: float = Field(default=1.0, gt=0)
    timeout_seconds: float = Field(default=30.0, gt=0)


class StoreIndexSettings(BaseModel):
    """Semantic search over the long-term store (`store.index` in `langgraph.json`)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    #: The length of every vector the embedding function returns.
    dims: int = Field(gt=0)
    #: `path/to/file.py:attr` (relative to the working directory, or to the manifest when it
    #: comes from one), `package.module:attr`, `provider:model` (through langchain's
    #: `init_embeddings`), or the object itself: a langchain `Embeddings`, or a sync or async
    #: function from a list of texts to a list of vectors.
    embed: Any
    #: JSON paths into each value whose text is embedded; the whole value when unset.
    fields: list[str] | None = None


class SerdeSettings(BaseModel):
    """Which stored types langgraph's checkpoint serializer may revive (`checkpointer.serde` in
    `langgraph.json`). A type outside the lists comes back as plain data, never constructed."""

    model_config = ConfigDict(extra="forbid")

    #: `[["module", "Class"], ...]` revived from the JSON form, or `true` for any.
    allowed_json_modules: list[list[str]] | Literal[True] | None = None
    #: The same for msgpack: a list adds to langgraph's safe types; `true` (langgraph's
    #: default unless LANGGRAPH_STRICT_MSGPACK is set) revives any type, with a warning for
    #: unlisted ones; `null` only the safe types.
    allowed_msgpack_modules: list[list[str]] | Literal[True] | None = True
    #: Pickle what msgpack cannot encode (and unpickle it on read).
    pickle_fallback: bool = False


class AuthCacheSettings(BaseModel):
    """Remember who a caller is, by the headers that identify it, instead of authenticating
    every request (`auth.cache` in `langgraph.json`)."""

    cache_keys: list[str] = Field(min_length=1)
    ttl_seconds: float = Field(default=60.0, gt=0)
    max_size: int = Field(default=1000, ge=1)


class AuthSettings(BaseModel):
    """Custom auth (`auth` in `langgraph.json`)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    #: `path/to/auth.py:auth` (relative to the working directory, or to the manifest when it
    #: comes from one), `package.module:auth`, or the `langgraph_sdk.Auth` object itself.
    path: Any
    #: Refuse LangGraph Studio's unauthenticated requests even under `distaff dev`.
    disable_studio_auth: bool = False
    #: Published in the OpenAPI document: `{"securitySchemes": {...}, "security": [...]}`.
    openapi: dict[str, Any] | None = None
    cache: AuthCacheSettings | None = None


class ConfigurableHeaders(BaseModel):
    """Which request headers a run copies into `config.configurable` (glob patterns)."""

    includes: list[str] = Field(default_factory=list)
    excludes: list[str] = Field(default_factory=list)


class HttpSettings(BaseModel):
    """The HTTP surface (`http` in `langgraph.json`)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    #: Your own Starlette/FastAPI app, served beside the API: `path/to/app.py:app`,
    #: `package.module:app`, or the app itself. Its routes take precedence over distaff's
    #: (but for `/ok`, `/metrics`, `/docs` and `/openapi.json`).
    app: Any = None
    #: Starlette `CORSMiddleware` arguments, replacing the default (`Settings.cors_default`).
    cors: dict[str, Any] | None = None
    configurable_headers: ConfigurableHeaders | None = None
    #: Authenticate requests to the custom app's routes too.
    enable_custom_route_auth: bool = False
    disable_assistants: bool = False
    disable_threads: bool = False
    disable_runs: bool = False
    disable_store: bool = False
    #: Removes `/info`, `/metrics` and `/docs` (`/ok` stays).
    disable_meta: bool = False
    #: Removes `/mcp` (the assistants as MCP tools).
    disable_mcp: bool = False
    #: Removes `/a2a/...` and `/.well-known/agent-card.json` (the assistants as A2A agents).
    disable_a2a: bool = False
    #: Removes `POST /ui/{graph_id}` and `GET /ui/...` (generative-UI components).
    disable_ui: bool = False


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DISTAFF_", extra="ignore")

    #: Picks the backend by scheme: `memory://`, `sqlite:///path`, `postgresql://...`.
    database_url: str = "memory://"
    #: With PostgreSQL: Redis carries stream events (Redis Streams) and cancels (pub/sub)
    #: between processes, instead of the database.
    redis_url: str | None = None
    #: How many runs one process executes at once.
    max_concurrent_runs: int = Field(default=16, ge=1)
    #: A run that was running when the process died is retried this many times in all.
    max_run_attempts: int = Field(default=3, ge=1)
    #: Wall-clock limit for one run, in seconds.
    run_timeout_seconds: float = Field(default=86_400, gt=0)
    #: SSE comment / wait newline interval, in seconds.
    heartbeat_seconds: float = Field(default=5.0, gt=0)
    #: How long the events of a resumable run stay replayable after it ends, in seconds.
    resumable_stream_ttl_seconds: float = Field(default=120.0, ge=0)
    #: How many v2 stream events each thread keeps for replay. Older runs' events go, a whole
    #: run at a time, never the latest run's.
    stream_events_per_thread: int = Field(default=10_000, ge=1)
    #: The floor under event-driven wake-ups: the queue is polled at least this often.
    queue_poll_seconds: float = Field(default=1.0, gt=0)
    #: On a shared database (PostgreSQL): how long a claim on a run holds without a heartbeat
    #: (heartbeats come every third of it). A run whose process died without a trace is
    #: given back to the queue within about this long (at once when the process was on the
    #: same host).
    lease_seconds: float = Field(default=20.0, ge=1)
    #: On shutdown (SIGTERM): how long running runs may go on before they are cut and handed
    #: back to the queue (they resume from their last checkpoint, on another process or at the
    #: next start). 0 hands them back at once.
    shutdown_grace_seconds: float = Field(default=5.0, ge=0)
    #: When a run is cancelled (or times out) after its model asked for tools and before they
    #: answered, give each unanswered call a tool message saying it was cancelled, so the
    #: thread's next turn is one model providers accept (a `messages` channel, the root graph).
    heal_tool_calls: bool = True
    #: Checkpoint retention for threads without their own policy: keep this many newest
    #: checkpoints of each thread's main line (None: all).
    checkpoint_keep_last: int | None = Field(default=None, ge=1)
    #: ... and none older than this many seconds (None: no age limit). The latest checkpoint
    #: of a thread (its state, a pending interrupt) always stays.
    checkpoint_max_age_seconds: float | None = Field(default=None, gt=0, le=100 * 365 * 86_400)
    #: How often retention is applied and storage measured (a pass over every thread).
    retention_sweep_seconds: float = Field(default=300.0, gt=0)
    #: Thread TTL for threads created without one, in minutes (`checkpointer.ttl.default_ttl`).
    thread_ttl_minutes: float | None = Field(default=None, gt=0)
    #: What an expired thread loses: everything (`delete`) or all but its latest checkpoint.
    thread_ttl_strategy: Literal["delete", "keep_latest"] = "delete"
    #: How often expired threads are looked for (`checkpointer.ttl.sweep_interval_minutes`).
    ttl_sweep_seconds: float = Field(default=300.0, gt=0)
    #: Store item TTL for items put without one, in minutes (`store.ttl.default_ttl`).
    store_ttl_minutes: float | None = Field(default=None, gt=0)
    #: Whether reading a store item restarts its TTL (`store.ttl.refresh_on_read`).
    store_refresh_on_read: bool = True
    #: How often expired store items are deleted (`store.ttl.sweep_interval_minutes`).
    store_sweep_seconds: float = Field(default=60.0, gt=0)
    #: How often the cron scheduler looks for due crons.
    cron_tick_seconds: float = Field(default=5.0, gt=0)
    #: Semantic store search; off when unset.
    store_index: StoreIndexSettings | None = None
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)
    #: Whether this process runs the queue worker (an API-only process sets it false).
    run_worker: bool = True
    #: Public base URL reported to graphs as `langgraph_api_url`.
    public_url: str | None = None
    #: Where the generative-UI bundles are served from (`schemas.json`, `public/<graph>/`): the
    #: manifest's `.langgraph_api/ui` when it has `ui`; `distaff build-ui` writes them.
    ui_dir: Path | None = None
    #: How `distaff dev`, `serve` and `worker` write their logs: `text` for a terminal, `json`
    #: for one JSON object per line (log shippers). An app you serve yourself logs as you set.
    log_format: Literal["text", "json"] = "text"
    #: The largest request body accepted, in bytes; a larger one gets 413 before it is read.
    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1)
    #: A request body that stops arriving for this long (seconds between two reads) gets 408.
    body_timeout_seconds: float = Field(default=30.0, gt=0)
    #: The largest request head (request line and headers) `distaff dev` and `serve` accept,
    #: in bytes; a larger one gets 431 and the connection is closed. An app you serve
    #: yourself keeps its server's limit (see `distaff/http_protocol.py`).
    max_header_bytes: int = Field(default=64 * 1024, ge=1024)
    #: A custom checkpointer for every graph instead of the backend's own (`checkpointer.path`):
    #: `path/to/file.py:attr` or `module:attr` naming a `BaseCheckpointSaver`, a sync or async
    #: function returning one, or an (async) context manager yielding one; or that object.
    checkpointer_path: Any = None
    #: A custom long-term store instead of the backend's own (`store.path`), given the same way
    #: (a `BaseStore`).
    store_path: Any = None
    #: What langgraph's checkpoint serializer may revive (`checkpointer.serde`).
    checkpointer_serde: SerdeSettings | None = None
    #: At-rest encryption (`encryption.path`): a `langgraph_sdk.Encryption` object, or where it
    #: is (`path/to/file.py:attr`, `module:attr`).
    encryption_path: Any = None
    auth: AuthSettings | None = None
    http: HttpSettings = Field(default_factory=HttpSettings)
    #: Browser pages allowed when `http.cors` is unset and there is no custom auth: `local`
    #: (pages of this machine and the hosted LangGraph Studio; `distaff serve`) or `any`
    #: (every origin; `distaff dev`, and the library). See `api/cors.py`.
    cors_default: Literal["any", "local"] = "any"
    #: Let LangGraph Studio's requests (header `x-auth-scheme: langsmith`) past authentication,
    #: as `langgraph dev` does; `distaff dev` turns it on. `auth.disable_studio_auth` wins.
    studio_auth: bool = False

    def sqlite_path(self) -> Path | None:
        if self.database_url.startswith("sqlite:///"):
            return Path(self.database_url.removeprefix("sqlite:///"))
        return None
