"""Real distaff processes for the tests: `python -m distaff serve` under uvicorn, on a free
loopback port, with the test graphs."""

from __future__ import annotations

import functools
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

MANIFEST = Path(__file__).parent / "graphs" / "langgraph.json"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    database_url: str
    env: dict[str, str] = field(default_factory=dict)
    manifest: Path = MANIFEST
    port: int = field(default_factory=free_port)
    log_path: Path | None = None
    #: More `distaff serve` options, e.g. `["--no-worker"]`.
    args: list[str] = field(default_factory=list)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> Server:
        env = {**os.environ, "DISTAFF_HEARTBEAT_SECONDS": "5", **self.env}
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "distaff",
                "serve",
                "--config",
                str(self.manifest),
                "--port",
                str(self.port),
                "--database-url",
                self.database_url,
                *self.args,
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        # One client for all the polls: each `httpx.get` builds a client, and its TLS context
        # (~30 ms of CPU) for nothing, 20 times or more per start.
        with httpx.Client(timeout=1) as poll:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(
                        f"distaff exited with {self.process.returncode}; see {self.log_path}"
                    )
                try:
                    if poll.get(f"{self.url}/ok").status_code == 200:
                        return self
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)
        raise RuntimeError(f"distaff did not start in {timeout}s; see {self.log_path}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(sig)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def http(self) -> httpx.AsyncClient:
        """An httpx client for this server, to use with `async with`."""
        return httpx.AsyncClient(base_url=self.url, timeout=30)

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as when a machine or process dies."""
        self.stop(signal.SIGKILL)


def send_head(port: int, head: bytes, timeout: float = 5.0) -> tuple[bytes, bytes]:
    """Send raw bytes (a request head, perhaps far too large) on a fresh connection and read
    until the server closes it: the answer's head and body. A server that stops reading
    partway is fine; the answer still comes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            sock.sendall(head)
        except OSError:
            pass
        data = b""
        try:
            while chunk := sock.recv(65536):
                data += chunk
        except TimeoutError:
            raise AssertionError(f"no end of the answer in {timeout}s: {data[:200]!r}") from None
    answer_head, _, body = data.partition(b"\r\n\r\n")
    return answer_head, body


def big_header(size: int) -> bytes:
    """A GET /ok whose one header is `size` bytes long."""
    return b"GET /ok HTTP/1.1\r\nHost: test\r\nX-Big: " + b"a" * size + b"\r\n\r\n"


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def static_site(directory: Path) -> Iterator[str]:
    """The folder's files served from a loopback origin of their own (for pages that must
    talk to distaff cross-origin): the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
