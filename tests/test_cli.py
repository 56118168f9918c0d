"""The command line: `distaff dev` and `distaff serve` as a user runs them, and what a broken
`langgraph.json` or graph module makes them say. Real processes throughout."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.servers import MANIFEST, big_header, free_port, send_head

TINY_GRAPH = """\
from langchain_core.messages import AIMessage
from langgraph.graph import START, MessagesState, StateGraph


def answer(state: MessagesState) -> dict:
    return {"messages": [AIMessage("ok")]}


_builder = StateGraph(MessagesState)
_builder.add_node("answer", answer)
_builder.add_edge(START, "answer")
graph = _builder.compile()
"""


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISTAFF_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _project(root: Path, manifest: object | str, files: dict[str, str] | None = None) -> Path:
    """A project folder with `langgraph.json` (a dict is dumped; a str is written as is)."""
    root.mkdir(parents=True, exist_ok=True)
    for name, text in (files if files is not None else {"graph.py": TINY_GRAPH}).items():
        (root / name).write_text(text)
    path = root / "langgraph.json"
    path.write_text(manifest if isinstance(manifest, str) else json.dumps(manifest))
    return path


@dataclass
class Proc:
    process: subprocess.Popen[bytes]
    port: int
    out: Path
    err: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def stdout(self) -> str:
        return self.out.read_text()

    @property
    def stderr(self) -> str:
        return self.err.read_text()

    def wait_ok(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=1) as poll:  # one client for all the polls (see servers.py)
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise AssertionError(
                        f"exited with {self.process.returncode}\n{self.stdout}\n{self.stderr}"
                    )
                try:
                    if poll.get(f"{self.url}/ok").status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)
        raise AssertionError(f"no /ok in {timeout}s\n{self.stdout}\n{self.stderr}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@contextmanager
def distaff(tmp_path: Path, *args: str, cwd: Path | None = None) -> Iterator[Proc]:
    port = free_port()
    out, err = tmp_path / f"out-{port}.txt", tmp_path / f"err-{port}.txt"
    with out.open("wb") as o, err.open("wb") as e:
        process = subprocess.Popen(
            [sys.executable, "-m", "distaff", *args, "--port", str(port)],
            stdout=o,
            stderr=e,
            env=_env(),
            cwd=cwd or Path.cwd(),
        )
    proc = Proc(process, port, out, err)
    try:
        yield proc
    finally:
        proc.stop()


def run_cli(
    *args: str, cwd: Path | None = None, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    """A CLI call that is expected to end by itself (a start-up failure)."""
    return subprocess.run(
        [sys.executable, "-m", "distaff", *args, "--port", str(free_port())],
        capture_output=True,
        text=True,
        env=_env(),
        cwd=cwd,
        timeout=timeout,
    )


# --- dev -----------------------------------------------------------------------------------


def test_dev_prints_banner_and_serves(tmp_path: Path) -> None:
    with distaff(
        tmp_path, "dev", "--no-reload", "--config", str(MANIFEST), "--database-url", "memory://"
    ) as proc:
        proc.wait_ok()
        assert httpx.get(f"{proc.url}/ok").json()["ok"] is True
        # dev keeps CORS open to every page (serve does not: tests/test_system.py).
        preflight = {"Origin": "https://any.example", "Access-Control-Request-Method": "POST"}
        r = httpx.options(f"{proc.url}/threads", headers=preflight)
        assert r.headers["access-control-allow-origin"] == "*"
        # The bounded request head (distaff/http_protocol.py) is what dev serves with.
        head, _ = send_head(proc.port, big_header(100_000))
        assert head.startswith(b"HTTP/1.1 431"), head
        banner = proc.stdout
    assert f"http://127.0.0.1:{proc.port}" in banner
    for graph_id in json.loads(MANIFEST.read_text())["graphs"]:
        assert graph_id in banner
    data_line = next(line for line in banner.splitlines() if "Data:" in line)
    assert "memory" in data_line
    base = f"http://127.0.0.1:{proc.port}"
    assert f"Studio:  {base}/studio/" in banner
    assert f"Docs:    {base}/docs" in banner
    assert f"https://smith.langchain.com/studio/?baseUrl={base}" in banner
    assert "Traceback" not in proc.stderr


def test_dev_no_reload_does_not_warn_about_reload(tmp_path: Path) -> None:
    """`--no-reload` is the user's choice; uvicorn should not be told about reload settings."""
    with distaff(
        tmp_path, "dev", "--no-reload", "--config", str(MANIFEST), "--database-url", "memory://"
    ) as proc:
        proc.wait_ok()
    assert "will not reload" not in proc.stderr, proc.stderr


def test_dev_default_data_location_is_beside_the_manifest(tmp_path: Path) -> None:
    manifest = _project(tmp_path / "proj", {"graphs": {"tiny": "./graph.py:graph"}})
    with distaff(
        tmp_path, "dev", "--no-reload", "--config", "proj/langgraph.json", cwd=tmp_path
    ) as proc:
        proc.wait_ok()
        banner = proc.stdout
    expected = manifest.parent.resolve() / ".distaff" / "distaff.sqlite"
    assert f"SQLite file {expected}" in banner
    assert "tiny" in banner


def test_the_data_folder_never_shows_in_git_status(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    _project(project, {"graphs": {"tiny": "./graph.py:graph"}})
    git = shutil.which("git")
    assert git is not None
    subprocess.run([git, "init", "-q", str(project)], check=True)
    with distaff(tmp_path, "dev", "--no-reload", "--config", "langgraph.json", cwd=project) as p:
        p.wait_ok()
        assert httpx.post(f"{p.url}/threads", json={}).status_code == 200
    assert (project / ".distaff" / "distaff.sqlite").is_file()
    status = subprocess.run(
        [git, "status", "--porcelain", "--untracked-files=all"],
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert ".distaff" not in status, status
    assert "graph.py" in status and "langgraph.json" in status


def test_a_missing_env_file_is_a_warning_not_a_stop(tmp_path: Path) -> None:
    # Templates ship `.env.example` only; `langgraph dev` starts without the `.env`.
    manifest = _project(tmp_path / "proj", {"graphs": {"tiny": "./graph.py:graph"}, "env": ".env"})
    with distaff(tmp_path, "serve", "--config", str(manifest), "--database-url", "memory://") as p:
        p.wait_ok()
    missing = manifest.parent.resolve() / ".env"
    assert f"env file {missing} not found; starting without it" in p.stdout + p.stderr


# --- serve ---------------------------------------------------------------------------------


def test_serve_keeps_data_in_sqlite_beside_the_manifest(tmp_path: Path) -> None:
    manifest = _project(tmp_path / "proj", {"graphs": {"tiny": "./graph.py:graph"}})
    # Run from elsewhere, with a relative --config: the data goes beside the manifest, not cwd.
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    config = os.path.relpath(manifest, elsewhere)
    with distaff(tmp_path, "serve", "--config", config, cwd=elsewhere) as proc:
        proc.wait_ok()
        thread = httpx.post(f"{proc.url}/threads", json={"metadata": {"kept": True}}).json()
        resp = httpx.post(
            f"{proc.url}/threads/{thread['thread_id']}/runs/wait",
            json={
                "assistant_id": "tiny",
                "input": {"messages": [{"type": "human", "content": "a"}]},
            },
            timeout=30,
        )
        assert resp.status_code == 200, resp.text
    database = manifest.parent / ".distaff" / "distaff.sqlite"
    assert database.is_file()
    assert not (elsewhere / ".distaff").exists()

    with distaff(tmp_path, "serve", "--config", config, cwd=elsewhere) as again:
        again.wait_ok()
        got = httpx.get(f"{again.url}/threads/{thread['thread_id']}")
        assert got.status_code == 200
        assert got.json()["metadata"]["kept"] is True
        assert [m["content"] for m in got.json()["values"]["messages"]] == ["a", "ok"]


# --- broken manifests and graphs fail fast, with one clear message ---------------------------


def _assert_clean_failure(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    for needle in needles:
        assert needle in output, (needle, output)
    assert "Traceback" not in output, output
    assert len(output.strip().splitlines()) <= 5, output


@pytest.mark.parametrize("command", ["serve", "dev"])
def test_missing_graph_file(tmp_path: Path, command: str) -> None:
    manifest = _project(tmp_path, {"graphs": {"g": "./nowhere.py:graph"}}, files={})
    reload = ["--no-reload"] if command == "dev" else []
    result = run_cli(command, *reload, "--config", str(manifest))
    _assert_clean_failure(result, str(tmp_path.resolve() / "nowhere.py"), "not found")


def test_graph_module_raising_on_import(tmp_path: Path) -> None:
    manifest = _project(
        tmp_path,
        {"graphs": {"g": "./broken.py:graph"}},
        files={"broken.py": "raise RuntimeError('kaboom at import')\ngraph = None\n"},
    )
    result = run_cli("serve", "--config", str(manifest))
    _assert_clean_failure(result, "broken.py", "RuntimeError", "kaboom at import", "'g'")


def test_graph_module_with_missing_import(tmp_path: Path) -> None:
    manifest = _project(
        tmp_path,
        {"graphs": {"g": "./needs.py:graph"}},
        files={"needs.py": "import not_a_real_module_xyz\n"},
    )
    result = run_cli("serve", "--config", str(manifest))
    _assert_clean_failure(result, "needs.py", "not_a_real_module_xyz")


def test_an_uninstalled_local_package_says_pip_install(tmp_path: Path) -> None:
    # As in the templates: the graph imports its own package, which lives under src/ and is
    # on the import path only once installed.
    project = tmp_path / "proj"
    (project / "src" / "my_agent").mkdir(parents=True)
    (project / "src" / "my_agent" / "__init__.py").write_text("")
    (project / "src" / "my_agent" / "nodes.py").write_text(TINY_GRAPH)
    (project / "pyproject.toml").write_text('[project]\nname = "my-agent"\nversion = "0"\n')
    manifest = _project(
        project,
        {"dependencies": ["."], "graphs": {"g": "./src/my_agent/graph.py:graph"}},
        files={"src/my_agent/graph.py": "from my_agent.nodes import graph\n"},
    )
    result = run_cli("serve", "--config", str(manifest))
    _assert_clean_failure(
        result, "No module named 'my_agent'", f"pip install -e {project.resolve()}"
    )


def test_graph_attribute_missing(tmp_path: Path) -> None:
    manifest = _project(tmp_path, {"graphs": {"g": "./graph.py:nope"}})
    result = run_cli("serve", "--config", str(manifest))
    _assert_clean_failure(result, "graph.py", "'nope'")


@pytest.mark.parametrize(
    ("graphs", "needle"),
    [
        ({"g": "./graph.py"}, "'g'"),  # no `:attr`
        ({"g": 42}, "'g'"),
        ({"g": {"description": "no path"}}, "'g'"),
        ({}, "'graphs'"),
        (["./graph.py:graph"], "'graphs'"),
    ],
    ids=["no-attr", "number", "dict-without-path", "empty", "list"],
)
def test_bad_graphs_entry(tmp_path: Path, graphs: object, needle: str) -> None:
    manifest = _project(tmp_path, {"graphs": graphs})
    result = run_cli("serve", "--config", str(manifest))
    _assert_clean_failure(result, str(manifest.resolve()), needle)


def test_invalid_json(tmp_path: Path) -> None:
    manifest = _project(tmp_path, '{"graphs": {"g": "./graph.py:graph",}')
    result = run_cli("serve", "--config", str(manifest))
    _assert_clean_failure(result, str(manifest.resolve()), "not valid JSON")


def test_missing_manifest(tmp_path: Path) -> None:
    missing = tmp_path / "absent" / "langgraph.json"
    result = run_cli("serve", "--config", str(missing))
    _assert_clean_failure(result, str(missing), "not found")


def test_graph_attribute_that_is_not_a_graph(tmp_path: Path) -> None:
    manifest = _project(
        tmp_path, {"graphs": {"g": "./graph.py:number"}}, files={"graph.py": "number = 42\n"}
    )
    result = run_cli("serve", "--config", str(manifest))
    _assert_clean_failure(result, "'g'", "int")


def test_graph_builder_that_raises(tmp_path: Path) -> None:
    source = "def build(checkpointer, store):\n    raise RuntimeError('cannot build')\n"
    manifest = _project(tmp_path, {"graphs": {"g": "./graph.py:build"}}, files={"graph.py": source})
    result = run_cli("serve", "--config", str(manifest))
    _assert_clean_failure(result, "'g'", "cannot build")


@pytest.mark.parametrize(
    ("index", "needles"),
    [
        ({"dims": 8, "embed": "./nope.py:embed"}, ["store.index.embed", "nope.py", "not found"]),
        ({"dims": 8, "embed": "./graph.py:nope"}, ["store.index.embed", "'nope'"]),
        ({"dims": 8, "embed": "./graph.py:number"}, ["store.index.embed", "int"]),
        ({"embed": "./graph.py:embed"}, ["dims", "required"]),
        ({"dims": 0, "embed": "./graph.py:embed"}, ["dims", "greater than 0"]),
        # langchain is installed: its long list of providers is cut to the line that says it.
        ({"dims": 8, "embed": "nosuchprovider:model"}, ["init_embeddings", "nosuchprovider"]),
    ],
    ids=[
        "missing-file",
        "missing-attr",
        "not-callable",
        "no-dims",
        "zero-dims",
        "unknown-provider",
    ],
)
def test_bad_store_index(tmp_path: Path, index: dict[str, object], needles: list[str]) -> None:
    source = (
        TINY_GRAPH + "\nnumber = 42\n\ndef embed(texts):\n    return [[1.0] * 8 for _ in texts]\n"
    )
    manifest = _project(
        tmp_path,
        {"graphs": {"g": "./graph.py:graph"}, "store": {"index": index}},
        files={"graph.py": source},
    )
    result = run_cli("serve", "--config", str(manifest))
    _assert_clean_failure(result, *needles)


def test_provider_embed_without_langchain(tmp_path: Path) -> None:
    """A `provider:model` embedding on a machine without langchain (the test venv has it, for
    the app templates): a `langchain` that fails to import comes first on the path, through the
    manifest's `dependencies`."""
    hidden = tmp_path / "hidden" / "langchain"
    hidden.mkdir(parents=True)
    (hidden / "__init__.py").write_text("raise ImportError('No module named langchain')\n")
    manifest = _project(
        tmp_path,
        {
            "dependencies": ["./hidden"],
            "graphs": {"g": "./graph.py:graph"},
            "store": {"index": {"dims": 8, "embed": "acme:embed-v1"}},
        },
    )
    result = run_cli("serve", "--config", str(manifest))
    _assert_clean_failure(result, "store.index.embed", "pip install langchain")


# --- the package's public surface ----------------------------------------------------------


def test_public_api() -> None:
    import distaff

    assert distaff.__all__ == [
        "BackendOptions",
        "Settings",
        "__version__",
        "create_app",
        "from_langgraph_json",
        "register_backend",
    ]
    assert callable(distaff.create_app)
    assert callable(distaff.register_backend)
    assert callable(distaff.from_langgraph_json)
    assert isinstance(distaff.__version__, str)
    from distaff.app import create_app, from_langgraph_json

    assert distaff.create_app is create_app
    assert distaff.from_langgraph_json is from_langgraph_json
    with pytest.raises(AttributeError):
        _ = distaff.not_a_name  # type: ignore[attr-defined]


def test_dev_reloads_when_a_graph_file_changes(tmp_path: Path) -> None:
    """`distaff dev` (reload on by default) serves the edited graph without a restart by hand."""

    project = tmp_path / "proj"
    shutil.copytree(Path(__file__).parent.parent / "examples" / "echo", project)
    shutil.rmtree(project / ".distaff", ignore_errors=True)
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "distaff",
            "dev",
            "--config",
            str(project / "langgraph.json"),
            "--port",
            str(port),
            "--database-url",
            "memory://",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # the reloader has a child: stop the whole group
    )
    url = f"http://127.0.0.1:{port}"
    body = {"assistant_id": "echo", "input": {"messages": [{"role": "user", "content": "x"}]}}

    def answer() -> str | None:
        try:
            r = httpx.post(f"{url}/runs/wait", json=body, timeout=5)
        except httpx.HTTPError:
            return None
        return str(r.json()["messages"][-1]["content"]) if r.status_code == 200 else None

    def until(expected: str, timeout: float) -> str | None:
        deadline = time.monotonic() + timeout
        got = None
        while time.monotonic() < deadline:
            got = answer()
            if got == expected:
                return got
            time.sleep(0.2)
        return got

    try:
        assert until("echo: x", 30) == "echo: x"
        # The reloader's server process is given the bounded head too.
        head, _ = send_head(port, big_header(100_000))
        assert head.startswith(b"HTTP/1.1 431"), head
        graph = project / "graph.py"
        graph.write_text(graph.read_text().replace('f"echo: {last}"', 'f"edited: {last}"'))
        assert until("edited: x", 30) == "edited: x"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(15)
