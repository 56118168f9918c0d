"""Generative-UI bundles: what `POST /ui/{graph_id}` links and `GET /ui/...` serves.

The bundler (`distaff build-ui`, or `distaff dev`'s watcher) writes `schemas.json` and
`public/<graph>/<file>` under `Settings.ui_dir`. schemas.json is read again whenever it
changes (the reference caches its first reading for good, so a component fixed after a failed
build stays 404 until a restart), and its `assets` are de-duplicated. Each asset has a content
hash: its ETag, and the `?v=` of the URLs the fragment gives, which may be cached for good.
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from distaff.errors import NotFound
from distaff.ids import is_uuid
from distaff.services.assistants import AssistantService

log = logging.getLogger("distaff.ui")

#: The fragment's placeholder, which `LoadExternalComponent` replaces with its shadow root's id.
SHADOW_ROOT_ID = "{{shadowRootId}}"


@dataclass(frozen=True, slots=True)
class Asset:
    name: str
    path: Path
    digest: str  #: sha256 of the content, hex


def global_name(graph_id: str) -> str:
    """The global the bundle's IIFE assigns (as `build.mjs` names it)."""
    return "__LGUI_" + re.sub(r"[^a-zA-Z0-9]", "_", graph_id)


class UiBundles:
    def __init__(self, root: Path | None) -> None:
        self.root = root
        self._schemas: dict[str, list[str]] = {}
        self._schemas_stamp: tuple[int, int, int] | None = None
        self._digests: dict[Path, tuple[tuple[int, int], str]] = {}

    @property
    def public(self) -> Path | None:
        return self.root / "public" if self.root is not None else None

    def schemas(self) -> dict[str, list[str]]:
        """graph id -> its asset names, as schemas.json says now (nothing when it is absent)."""
        if self.root is None:
            return {}
        path = self.root / "schemas.json"
        try:
            st = path.stat()
        except OSError:
            self._schemas, self._schemas_stamp = {}, None
            return {}
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        if stamp != self._schemas_stamp:
            self._schemas = _read_schemas(path)
            self._schemas_stamp = stamp
        return self._schemas

    async def graph_of(self, target: str, assistants: AssistantService) -> str:
        """The graph whose components `target` names: a graph id, or an assistant id (what the
        SDK sends when the page's `useStream` has one) that the caller may see."""
        schemas = self.schemas()
        if target in schemas:
            return target
        if is_uuid(target):
            try:
                graph_id = (await assistants.get(target))["graph_id"]
            except NotFound:
                pass
            else:
                if graph_id in schemas:
                    return str(graph_id)
        raise NotFound(f"UI not found for graph {target!r}")

    def assets(self, graph_id: str) -> list[Asset]:
        public = self.public
        assert public is not None, "graph_of found the graph"
        assets = []
        for name in self.schemas().get(graph_id, []):
            path = public / graph_id / name
            if (digest := self.digest(path)) is not None:
                assets.append(Asset(name, path, digest))
        return assets

    def fragment(self, graph_id: str, name: str, base_url: str) -> str:
        """The HTML `LoadExternalComponent` puts in its shadow root: a script tag per `.js`
        asset whose `onload` renders `name` into the root, a stylesheet link per `.css`."""
        call = html.escape(json.dumps(name))
        tags = []
        for asset in self.assets(graph_id):
            url = html.escape(
                f"{base_url}/ui/{quote(graph_id, safe='')}/{quote(asset.name)}"
                f"?v={asset.digest[:16]}"
            )
            if asset.name.endswith(".js"):
                tags.append(
                    f'<script src="{url}" onload=\'{global_name(graph_id)}.render({call},'
                    f' "{SHADOW_ROOT_ID}")\'></script>'
                )
            elif asset.name.endswith(".css"):
                tags.append(f'<link rel="stylesheet" href="{url}" />')
        return "\n".join(tags)

    def file(self, graph_id: str, name: str) -> Asset | None:
        """A file of a graph's bundle, or None: nothing outside `public/<graph>/` and nothing
        hidden (the bundler's half-built folders start with a dot) is ever served."""
        public = self.public
        parts = [graph_id, *name.split("/")]
        if public is None or any(not p or p.startswith(".") or "\\" in p for p in parts):
            return None
        path = public.joinpath(*parts)
        try:
            if not path.resolve().is_relative_to(public.resolve()):
                return None  # a symlink out of the bundle
        except (OSError, ValueError):  # ValueError: a NUL in the name
            return None
        digest = self.digest(path)
        return Asset(name, path, digest) if digest is not None else None

    def digest(self, path: Path) -> str | None:
        """The sha256 of a regular file (None if it is not one), hashed again only when its
        modification time or size changes."""
        try:
            st = path.stat()
            if not path.is_file():
                return None
            stamp = (st.st_mtime_ns, st.st_size)
            cached = self._digests.get(path)
            if cached is not None and cached[0] == stamp:
                return cached[1]
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        except (OSError, ValueError):
            return None
        self._digests[path] = (stamp, digest)
        return digest


def _read_schemas(path: Path) -> dict[str, list[str]]:
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        log.warning("generative UI: cannot read %s (%s); serving no components", path, exc)
        return {}
    schemas: dict[str, list[str]] = {}
    for graph_id, entry in raw.items() if isinstance(raw, dict) else ():
        assets = entry.get("assets") if isinstance(entry, dict) else None
        if isinstance(assets, list):
            # Watch rebuilds of LangGraph's bundler append the same names again.
            schemas[str(graph_id)] = list(dict.fromkeys(a for a in assets if isinstance(a, str)))
    return schemas
