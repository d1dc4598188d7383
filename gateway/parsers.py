"""The one body parser: JSON only, checked once here for what would otherwise fail deep inside.

* Only ``application/json`` (optionally ``; charset=utf-8``): DRF would also hand ``*/*`` or
  ``application/*`` to a JSON parser, which is a guess, not a contract -> 415.
* Pathologically nested bodies -> 400 ``malformed_json`` instead of a ``RecursionError``.
* A lone UTF-16 surrogate (``"\\ud800"``) is valid JSON but not Unicode text: PostgreSQL refuses
  it (and no response naming it could be encoded), so any string in the body holding one, key or
  value at any depth, is a 400 naming the top-level parameter it is in.
"""

import re

from rest_framework.exceptions import ErrorDetail, ParseError, UnsupportedMediaType, ValidationError
from rest_framework.parsers import JSONParser

_SURROGATE = re.compile("[\ud800-\udfff]")


def _json_media_type_accepted(media_type: str | None) -> bool:
    if not media_type:
        return True  # no body to parse: DRF never calls the parser then
    essence, *params = (part.strip().lower() for part in media_type.split(";"))
    if essence != "application/json":
        return False
    for param in params:
        name, _, value = param.partition("=")
        if name.strip() != "charset" or value.strip().strip('"') not in ("utf-8", "utf8"):
            return False
    return True


def _has_surrogate(text: str) -> bool:
    return _SURROGATE.search(text) is not None


def _first_surrogate_param(data) -> tuple[bool, str | None]:
    """(found, top-level parameter) of the first string holding a lone surrogate; iterative, so any
    depth the JSON decoder accepted is walked without recursion."""
    stack: list[tuple[object, str | None]] = []
    if isinstance(data, dict):
        for key, value in data.items():
            if _has_surrogate(key):
                return True, key
            stack.append((value, key))
    else:
        stack.append((data, None))
    while stack:
        value, param = stack.pop()
        if isinstance(value, str):
            if _has_surrogate(value):
                return True, param
        elif isinstance(value, dict):
            for key, item in value.items():
                if _has_surrogate(key):
                    return True, param
                stack.append((item, param))
        elif isinstance(value, list):
            stack.extend((item, param) for item in value)
    return False, None


class GatewayJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        if not _json_media_type_accepted(media_type):
            raise UnsupportedMediaType(media_type, detail="Request bodies must be application/json (UTF-8).")
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply.") from None
        found, param = _first_surrogate_param(data)
        if found:
            # The parameter's name itself may hold the surrogate: shown with U+FFFD in its place.
            shown = _SURROGATE.sub("\ufffd", param) if param is not None else None
            message = "must be valid Unicode text (a lone UTF-16 surrogate is not)."
            detail = ErrorDetail(f"{shown}: {message}" if shown else message, code="invalid")
            raise ValidationError({shown: [detail]} if shown else [detail])
        return data
