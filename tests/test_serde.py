"""`checkpointer.serde`: the allow-lists decide which stored types langgraph's serializer
revives. A graph stores a `boxes.Box` in its state; the next run reads it back from the
checkpoint and says what it got: the class itself where it is allowed (or where no serde is
configured, as in the reference's dev mode), a plain dict where the allow-list blocks it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.clients import sdk
from tests.conftest import ARTIFACTS, database_url
from tests.servers import Server

APP = Path(__file__).parent / "serde_app"


def _server(manifest: str, backend: str, request: pytest.FixtureRequest, root: Path) -> Server:
    return Server(
        database_url(backend, root, request),
        manifest=APP / manifest,
        log_path=ARTIFACTS / f"server-serde-{manifest}-{backend}.log",
    )


async def _seen_after_reload(srv: Server) -> str | None:
    async with sdk(srv) as client:
        tid = (await client.threads.create())["thread_id"]
        first = await client.runs.wait(tid, "boxes", input={})
        assert isinstance(first, dict) and first["seen"] is None
        again = await client.runs.wait(tid, "boxes", input={})
        assert isinstance(again, dict)
        assert again["box"] == {"label": "first"}  # the API shows it the same either way
        seen = again["seen"]
        return seen if isinstance(seen, str) else None


@pytest.fixture(scope="module", params=["memory", "sqlite", "postgres"])
def strict(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    srv = _server(
        "langgraph.json", request.param, request, tmp_path_factory.mktemp("serde")
    ).start()
    yield srv
    srv.stop()


async def test_a_type_outside_the_allow_list_comes_back_as_plain_data(strict: Server) -> None:
    assert await _seen_after_reload(strict) == "dict"


@pytest.mark.parametrize("manifest", ["langgraph.allowed.json", "langgraph.default.json"])
async def test_an_allowed_type_or_no_serde_section_revives_the_class(
    manifest: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    # langgraph.default.json has no `checkpointer.serde`: every class is revived.
    with _server(manifest, "sqlite", request, tmp_path) as srv:
        assert await _seen_after_reload(srv) == "Box"
