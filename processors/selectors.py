"""How the payments app finds the connectors to try, in order, for a payment.

``route_for`` returns an ordered list; the payments app tries the next entry only after an
attempt whose outcome is FAILED (provably nothing moved). Until a merchant configures routes
(issue: real processors), the route is the built-in sandbox.
"""

from dataclasses import dataclass

from .base import Connector
from .registry import connector_class

SANDBOX_ACCOUNT_ID = "sandbox"


@dataclass(frozen=True)
class RouteEntry:
    account_id: str
    processor: str
    connector: Connector


def connector_for_account(*, merchant_id: str, account_id: str) -> Connector:
    """The connector of one processor account of this merchant (e.g. for follow-ups on a payment)."""
    if account_id == SANDBOX_ACCOUNT_ID:
        return connector_class("sandbox")(account_id=SANDBOX_ACCOUNT_ID, config={"merchant_id": merchant_id})
    raise LookupError(f"unknown processor account {account_id!r}")


def route_for(*, merchant_id: str, payment_method_type: str, currency: str) -> list[RouteEntry]:
    connector = connector_for_account(merchant_id=merchant_id, account_id=SANDBOX_ACCOUNT_ID)
    return [RouteEntry(account_id=SANDBOX_ACCOUNT_ID, processor="sandbox", connector=connector)]
