"""`langgraph.json`, read the way the reference CLI reads it.

Only what the server needs at run time is interpreted; build-only keys (`python_version`,
`dockerfile_lines`, ...) are accepted and ignored. Sections later issues use (`store`, `auth`,
`http`, `webhooks`, `checkpointer`) are kept verbatim in `Manifest.raw`.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dotenv import dotenv_values

from distaff.errors import ConfigError
from distaff.imports import is_file_reference


@dataclass(frozen=True, slots=True)
class GraphSpec:
    """One entry of `graphs`: where the graph lives and how to describe it."""

    graph_id: str
    target: str  #: `./file.py:attr` (relative to the manifest) or `package.module:attr`
    base_dir: Path
    description: str | None = None
    #: What to tell the user when the module cannot be imported for want of a package the
    #: manifest's `dependencies` name but nobody installed (`pip install -e .`).
    install_hint: str | None = None


@dataclass(frozen=True, slots=True)
class UiSpec:
    """`ui` and `ui_config`: each graph's generative-UI components, for the bundler."""

    project_dir: Path
    #: graph id -> its components module, `./relative/to/project_dir.tsx` (inside it)
    components: dict[str, str]
    #: `ui_config.shared`: more modules the host page provides (left out of the bundles)
    shared: tuple[str, ...] = ()

    @property
    def output_dir(self) -> Path:
        """Where the bundles go: the layout LangGraph's own UI bundler writes."""
        return self.project_dir / ".langgraph_api" / "ui"


@dataclass(frozen=True, slots=True)
class Manifest:
    path: Path
    graphs: tuple[GraphSpec, ...]
    dependencies: tuple[Path | str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)
    #: What is odd but not fatal (an `env` file that does not exist): said once at start-up.
    warnings: tuple[str, ...] = ()
    ui: UiSpec | None = None

    def settings_overrides(self) -> dict[str, Any]:
        """Settings the manifest decides (`checkpointer.ttl`, `.path`, `.serde`, `store.ttl`,
        `.index`, `.path`, `encryption`, `webhooks`, `auth`, `http`), by `Settings` field
        name."""
        ttl = (self.raw.get("checkpointer") or {}).get("ttl") or {}
        overrides: dict[str, Any] = {}
        if ttl.get("default_ttl") is not None:
            overrides["thread_ttl_minutes"] = ttl["default_ttl"]
        if ttl.get("strategy") is not None:
            overrides["thread_ttl_strategy"] = ttl["strategy"]
        if ttl.get("sweep_interval_minutes") is not None:
            overrides["ttl_sweep_seconds"] = float(ttl["sweep_interval_minutes"]) * 60
        store_ttl = (self.raw.get("store") or {}).get("ttl") or {}
        if store_ttl.get("default_ttl") is not None:
            overrides["store_ttl_minutes"] = store_ttl["default_ttl"]
        if store_ttl.get("refresh_on_read") is not None:
            overrides["store_refresh_on_read"] = store_ttl["refresh_on_read"]
        if store_ttl.get("sweep_interval_minutes") is not None:
            overrides["store_sweep_seconds"] = float(store_ttl["sweep_interval_minutes"]) * 60
        if isinstance(index := (self.raw.get("store") or {}).get("index"), dict):
            overrides["store_index"] = {**index, "embed": self._resolve(index.get("embed"))}
        checkpointer = self.raw.get("checkpointer") or {}
        if checkpointer.get("path"):
            overrides["checkpointer_path"] = self._resolve(checkpointer["path"])
        if isinstance(checkpointer.get("serde"), dict):
            overrides["checkpointer_serde"] = checkpointer["serde"]
        if (self.raw.get("store") or {}).get("path"):
            overrides["store_path"] = self._resolve(self.raw["store"]["path"])
        if isinstance(encryption := self.raw.get("encryption"), dict) and encryption.get("path"):
            overrides["encryption_path"] = self._resolve(encryption["path"])
        if isinstance(auth := self.raw.get("auth"), dict) and auth.get("path"):
            overrides["auth"] = {**auth, "path": self._resolve(auth["path"])}
        if isinstance(http := self.raw.get("http"), dict):
            overrides["http"] = {**http, "app": self._resolve(http.get("app"))}
        if self.ui is not None:
            overrides["ui_dir"] = str(self.ui.output_dir)
        if isinstance(hooks := self.raw.get("webhooks"), dict):
            overrides["webhooks"] = {
                **(hooks.get("url") or {}),
                "headers": _webhook_headers(hooks, str(self.path)),
            }
        return overrides

    def _resolve(self, target: Any) -> Any:
        """A file the manifest names is relative to the manifest, as graphs are."""
        if isinstance(target, str) and is_file_reference(target):
            module_ref, _, attr = target.rpartition(":")
            return f"{(self.path.parent / module_ref).resolve()}:{attr}"
        return target

    def warn(self) -> None:
        """Log what is odd in the manifest but does not stop the server."""
        for warning in self.warnings:
            logging.getLogger("distaff").warning("%s", warning)

    def apply_environment(self) -> None:
        """Export `env` (values already set in the process win) and put `dependencies` on the
        import path, before any graph module is imported."""
        import sys

        for key, value in self.env.items():
            os.environ.setdefault(key, value)
        for dep in reversed(self.dependencies):
            if isinstance(dep, Path) and str(dep) not in sys.path:
                sys.path.insert(0, str(dep))


#: `{{ env.NAME }}`, and the official `${{ env.NAME }}` (its `$` is part of the template).
_ENV_TEMPLATE = re.compile(r"\$?\{\{\s*env\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def _webhook_headers(hooks: dict[str, Any], where: str) -> dict[str, str]:
    """`webhooks.headers`, with `{{ env.NAME }}` resolved now. Only variables starting with
    `env_prefix` (default `LG_WEBHOOK_`) may be read, so a manifest cannot leak others."""
    prefix = hooks.get("env_prefix", "LG_WEBHOOK_")

    def resolve(match: re.Match[str]) -> str:
        name = match.group(1)
        if not name.startswith(prefix):
            raise ConfigError(f"{where}: webhooks.headers may only use variables named {prefix}*")
        if name not in os.environ:
            raise ConfigError(f"{where}: webhooks.headers needs the environment variable {name}")
        return os.environ[name]

    return {
        str(k): _ENV_TEMPLATE.sub(resolve, str(v)) for k, v in (hooks.get("headers") or {}).items()
    }


def load_manifest(path: str | os.PathLike[str]) -> Manifest:
    manifest_path = Path(path).resolve()
    where = str(manifest_path)
    try:
        raw = json.loads(manifest_path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{where}: file not found") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{where}: not valid JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: the top level must be a JSON object")
    base = manifest_path.parent
    warnings: list[str] = []
    dependencies = _parse_dependencies(raw.get("dependencies", []), base, where)
    graphs = _parse_graphs(raw.get("graphs"), base, where, _install_hint(dependencies))
    return Manifest(
        path=manifest_path,
        graphs=graphs,
        dependencies=dependencies,
        env=_parse_env(raw.get("env"), base, where, warnings),
        raw=raw,
        warnings=tuple(warnings),
        ui=_parse_ui(raw, base, where, {g.graph_id for g in graphs}, warnings),
    )


def _parse_ui(
    raw: dict[str, Any], base: Path, where: str, graph_ids: set[str], warnings: list[str]
) -> UiSpec | None:
    ui, ui_config = raw.get("ui"), raw.get("ui_config")
    if ui is None:
        return None
    if not isinstance(ui, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in ui.items()
    ):
        raise ConfigError(f"{where}: 'ui' must be an object of graph_id -> './components.tsx'")
    components: dict[str, str] = {}
    for graph_id, file in ui.items():
        resolved = (base / file).resolve()
        if not resolved.is_relative_to(base):
            # The bundles are built and served from the project; nothing outside it is theirs.
            raise ConfigError(
                f"{where}: ui {graph_id!r}: {file!r} is outside the project directory {base}"
            )
        components[graph_id] = "./" + resolved.relative_to(base).as_posix()
        if graph_id not in graph_ids:
            warnings.append(f"{where}: ui {graph_id!r} names no graph of 'graphs'")
    if ui_config is not None and not isinstance(ui_config, dict):
        raise ConfigError(f"{where}: 'ui_config' must be an object")
    shared = (ui_config or {}).get("shared", [])
    if not isinstance(shared, list) or not all(isinstance(s, str) for s in shared):
        raise ConfigError(f"{where}: 'ui_config.shared' must be a list of module names")
    return UiSpec(base, components, tuple(shared))


def _install_hint(dependencies: tuple[Path | str, ...]) -> str | None:
    """`pip install -e <dir>` for each local dependency that is a package (has a
    pyproject.toml or setup.py): putting it on the import path is not installing it, and its
    modules may live under `src/`."""
    packages = [
        dep
        for dep in dependencies
        if isinstance(dep, Path)
        and any((dep / f).is_file() for f in ("pyproject.toml", "setup.py"))
    ]
    if not packages:
        return None
    commands = " and ".join(f"pip install -e {dep}" for dep in packages)
    return (
        "the manifest's dependencies name a local package: install it into this Python"
        f" environment first ({commands}), as `langgraph dev` also expects"
    )


def _parse_graphs(
    graphs: Any, base: Path, where: str, install_hint: str | None = None
) -> tuple[GraphSpec, ...]:
    if not isinstance(graphs, dict) or not graphs:
        raise ConfigError(f"{where}: 'graphs' must be a non-empty object of graph_id -> path")
    specs = []
    for graph_id, entry in graphs.items():
        description = None
        if isinstance(entry, dict):
            description = entry.get("description")
            entry = entry.get("path")
        if not isinstance(entry, str) or ":" not in entry:
            raise ConfigError(
                f"{where}: graph {graph_id!r} must be 'path/to/file.py:attr' or "
                f"'package.module:attr', got {entry!r}"
            )
        specs.append(GraphSpec(graph_id, entry, base, description, install_hint))
    return tuple(specs)


def _parse_dependencies(deps: Any, base: Path, where: str) -> tuple[Path | str, ...]:
    if not isinstance(deps, list):
        raise ConfigError(f"{where}: 'dependencies' must be a list")
    parsed: list[Path | str] = []
    for dep in deps:
        if not isinstance(dep, str):
            raise ConfigError(f"{where}: dependency {dep!r} must be a string")
        # Local paths go on sys.path; anything else names a package that must be installed.
        if dep.startswith((".", "/")):
            parsed.append((base / dep).resolve())
        else:
            parsed.append(dep)
    return tuple(parsed)


def _parse_env(env: Any, base: Path, where: str, warnings: list[str]) -> dict[str, str]:
    if env is None:
        return {}
    if isinstance(env, dict):
        return {str(k): str(v) for k, v in env.items()}
    if isinstance(env, str):
        env_path = (base / env).resolve()
        if not env_path.is_file():
            # Templates ship `.env.example` only; `langgraph dev` starts without the file too.
            warnings.append(f"{where}: env file {env_path} not found; starting without it")
            return {}
        return {k: v for k, v in dotenv_values(env_path).items() if v is not None}
    raise ConfigError(f"{where}: 'env' must be a path to a .env file or an object")
