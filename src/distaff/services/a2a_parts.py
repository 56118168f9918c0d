"""A2A messages and LangChain messages, both ways (protocol-surfaces contract sections 3.5, 3.6).

Pure functions over `a2a-sdk`'s v1.0 types: the JSON-RPC layer of the SDK turns them into v1.0
JSON for v1.0 clients and into v0.3 JSON for the v0.3 ones, so distaff never writes either
dialect by hand.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from a2a.types import a2a_pb2 as a2a
from a2a.utils.errors import ContentTypeNotSupportedError, InvalidParamsError
from google.protobuf.json_format import MessageToDict, ParseDict
from google.protobuf.struct_pb2 import Value

from distaff.models import Json

_HUMAN = {"human", "user", "HumanMessage", "HumanMessageChunk"}
_AI = {"ai", "assistant", "agent", "AIMessage", "AIMessageChunk"}
_MEDIA = ("image", "audio", "video")


def _data(part: a2a.Part) -> Any:
    return MessageToDict(part)["data"]


def graph_input(message: a2a.Message) -> tuple[list[Json], Json, list[str]]:
    """The message as graph input: the LangChain messages it makes, the top-level keys its data
    parts carry, and its text parts (a resume answers with those). Raises the A2A errors."""
    if not message.message_id:
        raise InvalidParamsError(message="Missing required 'messageId' in message")
    if message.role == a2a.ROLE_UNSPECIFIED:
        raise InvalidParamsError(message="Missing required 'role' in message")
    if not message.parts:
        raise InvalidParamsError(message="Message must have at least one part")
    role = "human" if message.role == a2a.ROLE_USER else "assistant"
    texts: list[str] = []
    blocks: list[Json] = []
    data: Json = {}
    has_file = False
    for part in message.parts:
        kind = part.WhichOneof("content")
        if kind == "text":
            texts.append(part.text)
            blocks.append({"type": "text", "text": part.text})
        elif kind in ("raw", "url"):
            has_file = True
            blocks.append(_file_block(part))
        elif kind == "data":
            value = _data(part)
            if not isinstance(value, dict):
                raise ContentTypeNotSupportedError(message="A data part must hold an object")
            data.update(value)
        else:
            raise ContentTypeNotSupportedError(
                message="Unsupported part type: a part holds text, a file or data"
            )
    messages: list[Json] = []
    if has_file:
        messages.append({"role": role, "content": blocks, "id": message.message_id})
    elif texts:
        messages.append({"role": role, "content": "\n".join(texts), "id": message.message_id})
    return messages, data, texts


def _file_block(part: a2a.Part) -> Json:
    mime = part.media_type or "application/octet-stream"
    major = mime.split("/", 1)[0]
    block: Json = {"type": major if major in _MEDIA else "file", "mime_type": mime}
    if part.WhichOneof("content") == "raw":
        block["base64"] = base64.b64encode(part.raw).decode()
    else:
        block["url"] = part.url  # never fetched
    if part.filename:
        block["extras"] = {"filename": part.filename}
    return block


def is_human(message: Json) -> bool:
    return message.get("type") in _HUMAN or message.get("role") in _HUMAN


def is_ai(message: Json) -> bool:
    return message.get("type") in _AI or message.get("role") in _AI


def parts_of(content: Any) -> list[a2a.Part]:
    """A LangChain message's content as A2A parts: text runs joined, media blocks as files."""
    if isinstance(content, str):
        return [a2a.Part(text=content)] if content else []
    parts: list[a2a.Part] = []
    text: list[str] = []

    def flush() -> None:
        if text:
            parts.append(a2a.Part(text="".join(text)))
            text.clear()

    for block in content if isinstance(content, list) else []:
        if isinstance(block, str):
            text.append(block)
            continue
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text":
            text.append(str(block.get("text") or ""))
        elif kind in (*_MEDIA, "file", "image_url"):
            flush()
            parts.append(_file_part(block))
    flush()
    return parts


def _file_part(block: Json) -> a2a.Part:
    mime = str(block.get("mime_type") or block.get("mimeType") or "")
    name = str((block.get("extras") or {}).get("filename") or block.get("filename") or "")
    url = block.get("url") or (block.get("image_url") or {}).get("url")
    if block.get("base64") or block.get("data"):
        try:
            raw = base64.b64decode(str(block.get("base64") or block.get("data")), validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        return a2a.Part(raw=raw, media_type=mime, filename=name)
    return a2a.Part(url=str(url or ""), media_type=mime, filename=name)


def tool_result_part(message: Json) -> a2a.Part:
    result = {
        "toolCallId": message.get("tool_call_id"),
        "content": message.get("content"),
        "name": message.get("name"),
        "status": message.get("status", "success"),
    }
    return data_part({"tool_results": [result]})


def data_part(value: Any) -> a2a.Part:
    return a2a.Part(data=ParseDict(value, Value()))


def text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(b.get("text") or "") if isinstance(b, dict) and b.get("type") == "text" else ""
            for b in content
        ) + "".join(b for b in content if isinstance(b, str))
    return ""
