"""Reversible, visible "encryption" for the tests: XOR with a fixed key, base64, behind a prefix,
so a test can both find the ciphertext in the database and be sure no plaintext is there."""

from __future__ import annotations

import base64
import json
from typing import Any

from langgraph_sdk import Encryption, EncryptionContext

encryption = Encryption()

PREFIX = "enc:"
BLOB_PREFIX = b"ENC!"
_KEY = b"distaff-test-key"
#: Left plain, as a deployment keeps what it searches by.
PLAIN = {"plain", "owner", "graph_id", "assistant_id", "thread_id", "run_id", "user_id"}


def _xor(data: bytes) -> bytes:
    return bytes(b ^ _KEY[i % len(_KEY)] for i, b in enumerate(data))


@encryption.encrypt.blob
async def encrypt_blob(ctx: EncryptionContext, blob: bytes) -> bytes:
    return BLOB_PREFIX + base64.b64encode(_xor(blob))


@encryption.decrypt.blob
async def decrypt_blob(ctx: EncryptionContext, blob: bytes) -> bytes:
    assert blob.startswith(BLOB_PREFIX), blob[:20]
    return _xor(base64.b64decode(blob[len(BLOB_PREFIX) :]))


@encryption.encrypt.json
async def encrypt_json(ctx: EncryptionContext, data: dict[str, Any]) -> dict[str, Any]:
    if ctx.field == "metadata" and "drop_me" in data:  # a broken handler, for the error test
        return {k: v for k, v in data.items() if k != "drop_me"}
    return {
        k: v
        if k in PLAIN or v is None
        else PREFIX + base64.b64encode(_xor(json.dumps(v).encode())).decode()
        for k, v in data.items()
    }


@encryption.decrypt.json
async def decrypt_json(ctx: EncryptionContext, data: dict[str, Any]) -> dict[str, Any]:
    return {
        k: json.loads(_xor(base64.b64decode(v[len(PREFIX) :])))
        if isinstance(v, str) and v.startswith(PREFIX)
        else v
        for k, v in data.items()
    }
