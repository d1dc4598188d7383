"""Who is calling: resolved once per request by the authentication classes."""

from dataclasses import dataclass
from typing import Literal

PrincipalKind = Literal["secret", "publishable", "customer"]


@dataclass(frozen=True)
class Principal:
    kind: PrincipalKind
    merchant_id: str
    livemode: bool
    api_key_id: str | None = None
    customer_id: str | None = None
    session_id: str | None = None
    rate_limit_per_second: float | None = None
    rate_limit_burst: int | None = None

    # DRF treats request.user as a user; a principal is always an authenticated caller.
    is_authenticated = True
    is_anonymous = False

    @property
    def rate_limit_key(self) -> str:
        return f"key:{self.api_key_id}" if self.api_key_id else f"cst:{self.session_id}"

    @property
    def is_secret(self) -> bool:
        return self.kind == "secret"
