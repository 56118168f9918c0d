"""Auth filters and handler dispatch, below the HTTP layer.

The same filter must mean the same thing in Python (one loaded resource), in SQLite (the
`auth_matches` function) and in PostgreSQL (`auth_clause`, evaluated by a real server), or a
search would show what a read hides.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest
from langgraph_sdk import Auth
from psycopg.types.json import Jsonb
from starlette.requests import Request

from distaff.auth import Authorizer, Principal, matches, owned
from distaff.auth.filters import InvalidFilter, check
from distaff.auth.users import AuthUser
from distaff.backends.postgres.filters import auth_clause
from distaff.errors import Refused
from distaff.settings import AuthCacheSettings
from tests.conftest import database_url

DOCS: list[dict[str, Any]] = [
    {},
    {"owner": "alice"},
    {"owner": "bob", "team": "blue"},
    {"owner": "alice", "team": "red", "members": ["alice", "carol"]},
    {"owner": 1},
    {"owner": True},
    {"owner": None},
    {"members": "alice"},
    {"owner": {"name": "alice"}},
]
FILTERS: list[dict[str, Any]] = [
    {"owner": "alice"},
    {"owner": {"$eq": "alice"}},
    {"owner": "alice", "team": "red"},
    {"members": {"$contains": "alice"}},
    {"members": {"$contains": ["alice", "carol"]}},
    {"members": {"$contains": ["alice", "dave"]}},
    {"$or": [{"owner": "bob"}, {"team": "red"}]},
    {"$and": [{"owner": "alice"}, {"$or": [{"team": "red"}, {"team": "green"}]}]},
    {"owner": 1},
    {"owner": True},
    {"owner": None},
    {"owner": {"name": "alice"}},
]


def test_the_documented_forms() -> None:
    assert matches({"owner": "alice"}, {"owner": "alice"})
    assert not matches({"owner": "alice"}, {"owner": "bob"})
    assert not matches({}, {"owner": "alice"})
    assert matches({"members": ["a", "b"]}, {"members": {"$contains": "a"}})
    assert not matches({"members": "a"}, {"members": {"$contains": "a"}})
    assert matches({"owner": 1}, {"owner": 1}) and not matches({"owner": True}, {"owner": 1})
    assert matches({"x": 1}, None) and matches({"x": 1}, {})
    assert owned({"owner": "alice", "members": {"$contains": "a"}, "$or": [{"t": 1}]}) == {
        "owner": "alice"
    }
    assert owned({"$and": [{"a": 1}, {"b": {"$eq": 2}}]}) == {"a": 1, "b": 2}
    for bad in ([], {"$nor": []}, {"x": {"$gt": 1}}, {"$or": "x"}, {"$or": []}):
        with pytest.raises(InvalidFilter):
            check(bad)


async def test_postgres_evaluates_every_filter_as_python_does(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url = database_url("postgres", tmp_path, request)
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute("CREATE TABLE docs (id int PRIMARY KEY, metadata jsonb NOT NULL)")
        for i, doc in enumerate(DOCS):
            await conn.execute("INSERT INTO docs VALUES (%s, %s)", (i, Jsonb(doc)))
        for flt in FILTERS:
            clause, params = auth_clause(flt)
            cur = await conn.execute(f"SELECT id FROM docs WHERE {clause} ORDER BY id", params)
            in_sql = [row[0] for row in await cur.fetchall()]
            in_python = [i for i, doc in enumerate(DOCS) if matches(doc, flt)]
            assert in_sql == in_python, json.dumps(flt)


def _request(headers: dict[str, str] | None = None, path: str = "/threads") -> Request:
    raw = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    return Request(
        {"type": "http", "method": "GET", "path": path, "headers": raw, "query_string": b""}
    )


async def test_the_most_specific_handler_alone_decides() -> None:
    auth = Auth()
    calls: list[str] = []

    @auth.on
    async def everything(ctx: Any, value: Any) -> Any:
        calls.append("global")
        return {"level": "global"}

    @auth.on.threads
    async def threads(ctx: Any, value: Any) -> Any:
        calls.append("threads")
        return {"level": "threads"}

    @auth.on.threads.create
    async def create(ctx: Any, value: Any) -> Any:
        calls.append("threads.create")
        return False

    @auth.on(resources="*", actions="search")
    async def searches(ctx: Any, value: Any) -> Any:
        calls.append("*.search")
        return True

    authorizer = Authorizer(auth)
    alice = Principal(AuthUser({"identity": "alice"}))
    with pytest.raises(Refused) as refused:
        await authorizer.authorize(alice, "threads", "create", {})
    assert refused.value.status == 403
    assert await authorizer.authorize(alice, "threads", "read", {}) == {"level": "threads"}
    assert await authorizer.authorize(alice, "assistants", "search", {}) is None
    assert await authorizer.authorize(alice, "crons", "read", {}) == {"level": "global"}
    assert calls == ["threads.create", "threads", "*.search", "global"]


async def test_authenticate_gets_what_it_asks_for_and_results_are_cached() -> None:
    auth = Auth()
    seen: list[tuple[Any, ...]] = []

    @auth.authenticate
    async def authenticate(
        authorization: str | None, path: str, headers: dict[bytes, bytes]
    ) -> Any:
        seen.append((authorization, path, headers.get(b"x-org")))
        assert authorization, "no token"
        return (["read"], {"identity": authorization, "org": headers.get(b"x-org")})

    authorizer = Authorizer(auth, cache=AuthCacheSettings(cache_keys=["Authorization"]))
    first = await authorizer.authenticate(_request({"Authorization": "t1", "x-org": "acme"}))
    assert first.identity == "t1" and first.permissions == ["read"]
    assert first.user.org == b"acme" and first.user["org"] == b"acme"
    again = await authorizer.authenticate(_request({"Authorization": "t1"}, path="/other"))
    assert again.identity == "t1"
    assert seen == [("t1", "/threads", b"acme")]  # the second came from the cache
    with pytest.raises(Refused) as missing:
        await authorizer.authenticate(_request())
    assert missing.value.status == 401
    assert missing.value.message.startswith("no token")  # (pytest adds its own explanation)


def test_an_authenticate_handler_asking_for_something_unknown_is_refused_at_start() -> None:
    auth = Auth()

    @auth.authenticate
    async def authenticate(token: str) -> str:
        return token

    with pytest.raises(Exception, match="asks for token"):
        Authorizer(auth)
