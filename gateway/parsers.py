from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class GatewayJSONParser(JSONParser):
    """JSON parser that also turns pathologically nested bodies into a 400 instead of a 500."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply.") from None
