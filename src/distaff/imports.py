"""Import what a manifest names: `./file.py:attr` (a file, relative to the manifest) or
`package.module:attr` (anything importable). Graphs, the store's embedding function and, later,
auth handlers are all named this way; errors say what was being loaded and what went wrong."""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any

from distaff.errors import ConfigError


def is_file_reference(target: str) -> bool:
    module_ref = target.rpartition(":")[0]
    return module_ref.endswith(".py") or "/" in module_ref


def import_reference(target: str, base_dir: Path, what: str) -> Any:
    """The attribute `target` names; `what` ("graph 'agent'") starts every error message."""
    module_ref, _, attr = target.rpartition(":")
    if not module_ref or not attr:
        raise ConfigError(f"{what}: {target!r} must be 'path/to/file.py:attr' or 'module:attr'")
    try:
        if is_file_reference(target):
            path = (base_dir / module_ref).resolve()
            if not path.is_file():
                raise ConfigError(f"{what}: file {path} not found")
            module = _import_file(path)
        else:
            module = importlib.import_module(module_ref)
    except ConfigError:
        raise
    except Exception as exc:
        raise ConfigError(
            f"{what}: importing {module_ref} failed: {type(exc).__name__}: {exc}"
        ) from exc
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ConfigError(f"{what}: {module_ref} has no attribute {attr!r}") from None


def _import_file(path: Path) -> Any:
    # One module per file, whoever imports it: a graph file and an embedding function in the
    # same file share their globals, as they would in the reference server.
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:8]
    name = f"distaff_graphs.{path.stem}_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        raise ConfigError(f"cannot import {path}")
    module = importlib.util.module_from_spec(module_spec)
    # The file's own folder is importable, as it is when the file is run as a script.
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))
    sys.modules[name] = module
    try:
        module_spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


async def import_in_thread(module: str) -> None:
    """Import `module` in a worker thread, so that a module imported on first use (a second
    or so of the MCP or A2A SDK) does not stall the event loop and every stream on it; the
    caller then imports it by name for free."""
    if module not in sys.modules:
        await asyncio.to_thread(importlib.import_module, module)
