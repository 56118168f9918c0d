"""The deployment's `langgraph_sdk.Encryption` handlers, called the way every wrapper needs.

A missing handler leaves its kind of data as it was (a deployment may encrypt only JSON, or only
blobs). A JSON encryptor that adds or drops keys is refused: the backends merge metadata key by
key in SQL, and a changed key set would lose data silently on the next merge.
"""

from __future__ import annotations

from typing import Any

from langgraph_sdk import Encryption, EncryptionContext
from langgraph_sdk.encryption.types import DecryptResult

from distaff.errors import DistaffError
from distaff.serde import dumps, loads

Json = dict[str, Any]


class EncryptionError(DistaffError):
    """An encryption handler broke its contract"""


class Cipher:
    def __init__(self, encryption: Encryption) -> None:
        self._encryption = encryption

    @property
    def seals_json(self) -> bool:
        return self._encryption._json_encryptor is not None

    @property
    def seals_blobs(self) -> bool:
        return self._encryption._blob_encryptor is not None

    async def seal_json(self, model: str, field: str, data: Json) -> Json:
        encrypt = self._encryption._json_encryptor
        if encrypt is None or not data:
            return data
        # The handler sees JSON, as stored: a thread's values hold langchain messages, which
        # the backends would otherwise serialise after the handler (in plain).
        data = loads(dumps(data))
        out = await encrypt(EncryptionContext(model=model, field=field), data)
        if not isinstance(out, dict):
            raise EncryptionError(
                f"the JSON encryptor returned {type(out).__name__} for {model}.{field}, not a dict"
            )
        if out.keys() != data.keys():
            added = sorted(map(str, out.keys() - data.keys()))
            dropped = sorted(map(str, data.keys() - out.keys()))
            raise EncryptionError(
                f"the JSON encryptor must keep the keys of {model}.{field} (only values may"
                f" change): it added {added} and dropped {dropped}"
            )
        return out

    async def open_json(self, model: str, field: str, data: Json) -> Json:
        decrypt = self._encryption._json_decryptor
        if decrypt is None or not isinstance(data, dict) or not data:
            return data
        out = await decrypt(EncryptionContext(model=model, field=field), dict(data))
        # A replacement (a re-encryption after key rotation) is not written back: the row is
        # re-encrypted the next time it is written anyway.
        plain = out.plaintext if isinstance(out, DecryptResult) else out
        if not isinstance(plain, dict):
            raise EncryptionError(
                f"the JSON decryptor returned {type(plain).__name__} for {model}.{field}, not a"
                " dict"
            )
        return plain

    async def seal_blob(self, model: str, field: str, data: bytes) -> bytes:
        encrypt = self._encryption._blob_encryptor
        if encrypt is None:
            return data
        out = await encrypt(EncryptionContext(model=model, field=field), data)
        if not isinstance(out, bytes | bytearray):
            raise EncryptionError(
                f"the blob encryptor returned {type(out).__name__} for {model}.{field}, not bytes"
            )
        return bytes(out)

    async def open_blob(self, model: str, field: str, data: bytes) -> bytes:
        decrypt = self._encryption._blob_decryptor
        if decrypt is None:
            raise EncryptionError(
                f"{model}.{field} was stored encrypted but no blob decryptor is registered"
            )
        out = await decrypt(EncryptionContext(model=model, field=field), data)
        plain = out.plaintext if isinstance(out, DecryptResult) else out
        if not isinstance(plain, bytes | bytearray):
            raise EncryptionError(
                f"the blob decryptor returned {type(plain).__name__} for {model}.{field}, not bytes"
            )
        return bytes(plain)

    # A thread's values may be any JSON (a functional graph's state can be a list): wrapped in
    # a one-key dict for the JSON handlers, which take dicts only.
    async def seal_any(self, model: str, field: str, value: Any) -> Any:
        if value is None or not self.seals_json:
            return value
        if isinstance(value, dict):
            return await self.seal_json(model, field, value)
        return await self.seal_json(model, field, {WRAPPED: value})

    async def open_any(self, model: str, field: str, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        plain = await self.open_json(model, field, value)
        if plain.keys() == {WRAPPED}:
            return plain[WRAPPED]
        return plain


WRAPPED = "__distaff_value__"
