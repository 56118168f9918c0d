"""distaff: run LangGraph graphs behind the Agent Server HTTP API."""

from typing import TYPE_CHECKING

from distaff.settings import Settings
from distaff.version import __version__

if TYPE_CHECKING:
    from distaff.app import create_app, from_langgraph_json
    from distaff.backends.registry import BackendOptions, register_backend


__all__ = [
    "BackendOptions",
    "Settings",
    "__version__",
    "create_app",
    "from_langgraph_json",
    "register_backend",
]


def __getattr__(name: str) -> object:
    # The app pulls in FastAPI and langgraph; keep `import distaff` (and the CLI's --help) light.
    if name in ("create_app", "from_langgraph_json"):
        from distaff import app

        return getattr(app, name)
    if name in ("register_backend", "BackendOptions"):
        from distaff.backends import registry

        return getattr(registry, name)
    raise AttributeError(name)
