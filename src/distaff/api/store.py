"""`/store` routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query
from starlette.responses import Response

from distaff.api.response_schemas import ERRORS, Namespaces, StoreItem, StoreSearchResults
from distaff.api.responses import JSON, runtime
from distaff.api.routing import Router
from distaff.api.schemas import StoreDelete, StoreNamespaces, StorePut, StoreSearch
from distaff.errors import BadRequest
from distaff.runtime import Runtime

router = Router(prefix="/store", tags=["store"], responses=ERRORS)
Rt = Annotated[Runtime, Depends(runtime)]


@router.put("/items", status_code=204)
async def put_item(body: StorePut, rt: Rt) -> Response:
    await rt.store.put(body.namespace, body.key, body.value, index=body.index, ttl=body.ttl)
    return Response(status_code=204)


@router.get(
    "/items",
    responses={200: {"model": StoreItem | None, "description": "The item, or null for none"}},
)
async def get_item(
    rt: Rt,
    namespace: Annotated[list[str] | None, Query()] = None,
    key: Annotated[str | None, Query()] = None,
    refresh_ttl: Annotated[bool | None, Query()] = None,
) -> Response:
    if not key:
        raise BadRequest("Key is required")
    # `?namespace=a.b` as the SDKs send it; repeated `?namespace=a&namespace=b` works too.
    labels = [label for part in namespace or [] for label in part.split(".")]
    # A missing item is 200 with `null`, as the reference answers (contract quirk 4).
    return JSON(await rt.store.get(labels, key, refresh_ttl=refresh_ttl))


@router.delete("/items", status_code=204)
async def delete_item(body: StoreDelete, rt: Rt) -> Response:
    await rt.store.delete(body.namespace, body.key)
    return Response(status_code=204)


@router.post("/items/search", responses={200: {"model": StoreSearchResults}})
async def search_items(body: StoreSearch, rt: Rt) -> Response:
    items = await rt.store.search(
        body.namespace_prefix,
        filter=body.filter,
        limit=body.limit,
        offset=body.offset,
        query=body.query,
        refresh_ttl=body.refresh_ttl,
    )
    return JSON({"items": items})


@router.post("/namespaces", responses={200: {"model": Namespaces}})
async def list_namespaces(body: StoreNamespaces, rt: Rt) -> Response:
    namespaces = await rt.store.namespaces(
        prefix=body.prefix,
        suffix=body.suffix,
        max_depth=body.max_depth,
        limit=body.limit,
        offset=body.offset,
    )
    return JSON({"namespaces": namespaces})
