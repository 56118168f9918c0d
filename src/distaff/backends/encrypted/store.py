"""A long-term store that encrypts item values (JSON handlers, `ctx.model="store"`,
`ctx.field="value"`) on the way in and decrypts them on the way out.

Everything goes through `abatch`, which `aput`, `aget`, `asearch` and the rest call. Namespaces
and keys stay plain (they are how items are found). A search filter on an encrypted value, and
semantic search over an encrypted indexed field (its embedding is of the ciphertext), match
nothing useful: the documented price of encrypting a field.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Iterable
from typing import Any

from langgraph.store.base import BaseStore, Item, Op, PutOp, Result

from distaff.backends.encrypted.bridge import run_on
from distaff.backends.encrypted.cipher import Cipher

_SYNC = (
    "the encrypted store cannot be called synchronously on the server's event loop (the"
    " encryption handlers are async): use aput, aget, asearch there"
)


class EncryptedStore(BaseStore):
    def __init__(self, inner: BaseStore, cipher: Cipher) -> None:
        self.inner = inner
        self._cipher = cipher
        self.supports_ttl = inner.supports_ttl
        self.ttl_config = inner.ttl_config
        # Opened on the server's loop: a sync graph node (run on a worker thread) has its
        # calls run there, where the async handlers can be awaited.
        self._loop = asyncio.get_running_loop()

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        return run_on(self._loop, self.abatch(list(ops)), _SYNC)

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        sealed: list[Op] = []
        for op in ops:
            if isinstance(op, PutOp) and op.value is not None:
                value = await self._cipher.seal_json("store", "value", dict(op.value))
                op = op._replace(value=value)
            sealed.append(op)
        results = await self.inner.abatch(sealed)
        return [await self._open(result) for result in results]

    async def _open(self, result: Any) -> Any:
        if isinstance(result, Item):
            return await self._open_item(result)
        if isinstance(result, list):  # a search's items (list_namespaces: tuples, left be)
            return [await self._open_item(i) if isinstance(i, Item) else i for i in result]
        return result

    async def _open_item(self, item: Item) -> Item:
        # Opened into a copy (an Item or SearchItem, as it came): an inner store may hand out
        # the items it keeps (langgraph's InMemoryStore does), which must stay sealed.
        opened = copy.copy(item)
        opened.value = await self._cipher.open_json("store", "value", item.value)
        return opened
