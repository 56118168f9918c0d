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


def listens_on(pid: int, port: int) -> bool:
    """Whether process `pid` holds a listening TCP socket on loopback `port` (Linux's /proc):
    that the server answering on the port is this one, not another test's that took the port
    between `free_port` choosing it and this server binding it."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
            inodes.add(f"socket:[{fields[9]}]")
    if not inodes:
        return False
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") in inodes:
                return True
        except OSError:
            continue
    return False


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
        for _ in range(3):
            if self._start(timeout):
                return self
            # Another process took the port between `free_port` and the bind: another port.
            self.port = free_port()
        raise RuntimeError(f"distaff found no free port in 3 tries; see {self.log_path}")

    def _start(self, timeout: float) -> bool:
        """Start the server; False if it could not bind its port because another process
        holds it (a server that answers there may be that other one)."""
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
                    if self._port_taken():
                        return False
                    raise RuntimeError(
                        f"distaff exited with {self.process.returncode}; see {self.log_path}"
                    )
                try:
                    answered = poll.get(f"{self.url}/ok").status_code == 200
                except httpx.HTTPError:
                    answered = False
                if answered and listens_on(self.process.pid, self.port):
                    return True
                time.sleep(0.1)
        raise RuntimeError(f"distaff did not start in {timeout}s; see {self.log_path}")

    def _port_taken(self) -> bool:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", self.port))
            except OSError:
                return True
        return False

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
