"""Redis cache of order representations (``GET /v1/orders/{id}``): the gateway's generational
cache (``gateway.cache``). Every change calls ``order_cache_invalidate`` inside its transaction."""

from collections.abc import Callable
from typing import Any

from gateway.cache import GenerationalCache

ORDER_CACHE = GenerationalCache(namespace="order")


def order_cache_read(
    *, merchant_id: str, order_id: str, load: Callable[[], dict[str, Any]], livemode: bool = False
) -> dict[str, Any]:
    return ORDER_CACHE.read(object_id=order_id, merchant_id=merchant_id, livemode=livemode, load=load)


def order_cache_invalidate(*, order_id: str) -> None:
    ORDER_CACHE.invalidate(object_id=order_id)
