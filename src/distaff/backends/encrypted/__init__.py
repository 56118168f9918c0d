"""At-rest encryption of everything a backend stores (placeholder: being written)."""

from __future__ import annotations

from typing import Any

from distaff.backends.base import Backend


def encrypted_backend(backend: Backend, encryption: Any) -> Backend:
    raise NotImplementedError("encryption.path is not supported yet")
