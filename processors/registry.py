"""Connector classes by processor name. Apps register theirs at import (AppConfig.ready)."""

from .base import Connector

_CONNECTORS: dict[str, type[Connector]] = {}


def register(cls: type[Connector]) -> type[Connector]:
    _CONNECTORS[cls.name] = cls
    return cls


def connector_class(name: str) -> type[Connector]:
    try:
        return _CONNECTORS[name]
    except KeyError:
        raise LookupError(f"no connector registered for processor {name!r}") from None


def registered_processors() -> list[str]:
    return sorted(_CONNECTORS)
