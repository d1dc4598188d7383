"""Cursor pagination over time-sortable ids: newest first, ``limit`` (1..100, default 10),
``starting_after`` / ``ending_before``; answers ``{"object": "list", "data", "has_more"}``."""

from datetime import UTC, datetime
from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers

from .errors import InvalidRequest

DEFAULT_LIMIT = 10
MAX_LIMIT = 100

LIST_PARAMETERS = [
    OpenApiParameter(
        "limit",
        {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
        description=f"1 to {MAX_LIMIT}, default {DEFAULT_LIMIT}.",
    ),
    OpenApiParameter("starting_after", str, description="Cursor: id of the last object of the previous page."),
    OpenApiParameter("ending_before", str, description="Cursor: id of the first object of the next page."),
]


def _limit(params) -> int:
    raw = params.get("limit")
    if raw is None:  # an empty value is not absent: it is refused below
        return DEFAULT_LIMIT
    try:
        limit = int(raw)
    except (TypeError, ValueError):
        limit = 0
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidRequest("limit must be an integer between 1 and 100.", code="parameter_invalid", param="limit")
    return limit


def paginate(*, queryset: QuerySet, params, serialize) -> dict[str, Any]:
    """``serialize`` turns one page (a list of objects) into a list of dicts."""
    limit = _limit(params)
    starting_after = params.get("starting_after")
    ending_before = params.get("ending_before")
    if starting_after and ending_before:
        raise InvalidRequest(
            "Use either starting_after or ending_before, not both.", code="parameter_invalid", param="ending_before"
        )
    if ending_before:
        page = list(queryset.filter(pk__gt=ending_before).order_by("pk")[: limit + 1])
        has_more = len(page) > limit
        page = list(reversed(page[:limit]))
    else:
        if starting_after:
            queryset = queryset.filter(pk__lt=starting_after)
        page = list(queryset.order_by("-pk")[: limit + 1])
        has_more = len(page) > limit
        page = page[:limit]
    return {"object": "list", "data": serialize(page), "has_more": has_more}


def list_envelope_serializer(item_serializer: type[serializers.Serializer], name: str):
    """An OpenAPI-only serializer describing the list envelope around ``item_serializer``."""
    return type(
        name,
        (serializers.Serializer,),
        {
            "object": serializers.CharField(default="list"),
            "data": item_serializer(many=True),
            "has_more": serializers.BooleanField(),
        },
    )


def unix_time_param(params, name: str) -> datetime | None:
    """A ``created[gte]``-style filter: unix seconds -> aware datetime, or a 400 naming it."""
    value = params.get(name)
    if value is None:  # an empty value is not absent: it is refused below
        return None
    try:
        return datetime.fromtimestamp(int(value), tz=UTC)
    except (ValueError, OverflowError, OSError):
        raise InvalidRequest(f"{name} must be a unix time in seconds.", code="parameter_invalid", param=name) from None


def metadata_filter_param(params) -> dict[str, str]:
    """Stripe-style ``metadata[key]=value`` filters (every pair must match), or a 400 naming the
    parameter: keys and values within the limits metadata itself has, each key given once."""
    from .serializers import METADATA_MAX_KEY_LENGTH, METADATA_MAX_KEYS, METADATA_MAX_VALUE_LENGTH

    pairs: dict[str, str] = {}
    for name, values in params.lists():
        if not (name.startswith("metadata[") and name.endswith("]")):
            continue
        key = name[len("metadata[") : -1]
        if not 1 <= len(key) <= METADATA_MAX_KEY_LENGTH:
            raise InvalidRequest(
                f"metadata filter keys must be 1 to {METADATA_MAX_KEY_LENGTH} characters.",
                code="parameter_invalid",
                param=name,
            )
        if len(values) != 1 or len(values[0]) > METADATA_MAX_VALUE_LENGTH:
            raise InvalidRequest(
                f"{name} must be given once, at most {METADATA_MAX_VALUE_LENGTH} characters.",
                code="parameter_invalid",
                param=name,
            )
        pairs[key] = values[0]
    if len(pairs) > METADATA_MAX_KEYS:
        raise InvalidRequest(
            f"At most {METADATA_MAX_KEYS} metadata filters.", code="parameter_invalid", param="metadata"
        )
    return pairs
