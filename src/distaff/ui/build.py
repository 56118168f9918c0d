"""Building the generative-UI bundles: Node.js runs `bundler/build.mjs` with esbuild.

Node and npm are needed to build, never to serve: `distaff build-ui` writes the bundles once
(an image runs it at build time), `distaff dev` rebuilds them on every change. esbuild comes
from `bundler/package-lock.json`, installed once with `npm ci` into distaff's cache (one folder
per lockfile and script, so an upgrade of distaff installs afresh), never into the user's
project, whose own `node_modules` serves only the imports of their components.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from distaff.errors import ConfigError
from distaff.manifest import UiSpec

BUNDLER = Path(__file__).parent / "bundler"
_FILES = ("package.json", "package-lock.json", "build.mjs")
#: Written last into an installed bundler: a folder without it is an install that died.
_READY = ".distaff-ready"

NO_NODE = (
    "generative UI (the 'ui' key of langgraph.json) needs Node.js 18 or later and npm to build"
    " its components: install them (Debian/Ubuntu: apt-get install nodejs npm;"
    " or https://nodejs.org), or serve bundles built elsewhere with `distaff build-ui`"
)


class UiBuildFailed(ConfigError):
    """The components did not build (esbuild printed why)."""


def tools() -> tuple[str, str]:
    """`node` and `npm`, or the one-line error naming what to install."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        raise ConfigError(NO_NODE)
    return node, npm


def cache_root() -> Path:
    """`DISTAFF_UI_BUNDLER_DIR`, else `$XDG_CACHE_HOME/distaff` (`~/.cache/distaff`)."""
    if explicit := os.environ.get("DISTAFF_UI_BUNDLER_DIR"):
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "distaff"


def bundler_dir() -> Path:
    """The installed bundler for this distaff: named for the hash of what it is made of."""
    digest = hashlib.sha256()
    for name in _FILES:
        digest.update((BUNDLER / name).read_bytes())
    return cache_root() / f"ui-bundler-{digest.hexdigest()[:16]}"


def is_installed() -> bool:
    return (bundler_dir() / _READY).is_file()


def install(say: Callable[[str], object] = print) -> Path:
    """The bundler, installed with `npm ci` if it is not yet (`say` tells the user it is)."""
    target = bundler_dir()
    if (target / _READY).is_file():
        return target
    _, npm = tools()
    target.parent.mkdir(parents=True, exist_ok=True)
    say(f"distaff: installing the UI bundler (esbuild, from distaff's lockfile) into {target}")
    # In a folder of its own, moved into place when whole: two processes may install at once.
    staging = Path(tempfile.mkdtemp(prefix=".ui-bundler-", dir=target.parent))
    try:
        for name in _FILES:
            shutil.copyfile(BUNDLER / name, staging / name)
        proc = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=staging,
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
            raise ConfigError(f"npm ci of the UI bundler failed: {' / '.join(tail)}")
        (staging / _READY).write_text("")
        try:
            staging.rename(target)
        except OSError:
            if not (target / _READY).is_file():  # not another process's install
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _command(spec: UiSpec, *, watch: bool, say: Callable[[str], object]) -> list[str]:
    node, _ = tools()
    config = {
        "projectDir": str(spec.project_dir),
        "outDir": str(spec.output_dir),
        "graphs": spec.components,
        "shared": list(spec.shared),
        "watch": watch,
    }
    return [node, str(install(say) / "build.mjs"), json.dumps(config)]


def build(spec: UiSpec, say: Callable[[str], object] = print) -> None:
    """Build every graph's bundle once; `UiBuildFailed` if one did not build (the others are
    written, and schemas.json names only what built). esbuild's messages go to stderr."""
    proc = subprocess.run(_command(spec, watch=False, say=say), check=False)
    if proc.returncode != 0:
        raise UiBuildFailed(
            f"generative UI: some components did not build (esbuild said why above);"
            f" the others are in {spec.output_dir}"
        )


class Watcher:
    """`build.mjs` in watch mode, for `distaff dev`: every change rebuilds; a failed build takes
    its graph out of schemas.json (the server answers 404 for it) until the next good one."""

    def __init__(self, spec: UiSpec, say: Callable[[str], object] = print) -> None:
        self.process = subprocess.Popen(
            _command(spec, watch=True, say=say),
            # It exits when this pipe closes, so it never outlives this process.
            stdin=subprocess.PIPE,
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdin is not None:
            self.process.stdin.close()
