"""Opaque, prefixed, time-sortable public ids (``pay_01jd...``).

48 bits of milliseconds then 80 random bits, in lowercase Crockford base32 (ULID layout):
ids sort by creation time, so lists page by id alone, and no sequence is shared between
shards. The id is the primary key of every public object.
"""

import os
import time

from django.db import models
from django.utils.deconstruct import deconstructible

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
ID_BODY_LENGTH = 26


def new_id(prefix: str) -> str:
    value = (int(time.time() * 1000) << 80) | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(ID_BODY_LENGTH):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return f"{prefix}_{''.join(reversed(chars))}"


def looks_like_id(value: str, prefix: str) -> bool:
    body = value[len(prefix) + 1 :]
    return value.startswith(prefix + "_") and len(body) == ID_BODY_LENGTH and all(c in _ALPHABET for c in body)


@deconstructible
class IdFactory:
    def __init__(self, prefix: str):
        self.prefix = prefix

    def __call__(self) -> str:
        return new_id(self.prefix)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, IdFactory) and other.prefix == self.prefix


class PublicIdField(models.CharField):
    """Primary key holding a prefixed public id."""

    def __init__(self, prefix: str, **kwargs):
        self.prefix = prefix
        kwargs.setdefault("max_length", 40)
        kwargs.setdefault("primary_key", True)
        kwargs.setdefault("editable", False)
        kwargs["default"] = IdFactory(prefix)
        super().__init__(**kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs.pop("default", None)
        kwargs["prefix"] = self.prefix
        return name, path, args, kwargs
