"""The one interface every processor connector implements (sandbox, Stripe, PayPal, ...).

The payments app drives a payment through these calls; connectors translate them to the
processor's wire format. Rules every connector keeps:

* ``reference`` is our id for the operation (payment attempt id, capture/refund id). It is
  sent as the processor's idempotency key (Stripe ``Idempotency-Key``, PayPal
  ``PayPal-Request-Id``), so repeating a call can never move money twice.
* A connector never raises for a processor outcome: it returns a ``ProcessorResult``.
  Exceptions are for bugs. Network failures are mapped by ``outcome``:
  connection refused / a documented "not processed" 5xx -> FAILED (no money moved, safe to
  fall back to another processor); read timeout / lost reply / undocumented 5xx -> UNKNOWN
  (resolve with ``status``; never retry with a new reference).
* Card data (``CardDetails``) is used for the one call and never logged; its repr is masked.
* Amounts in requests and results are ISO 4217 minor units (``gateway.money``); a connector
  converts them to its processor's own units (``currencies``, a ``processors.currencies.CurrencyTable``)
  exactly, and refuses (FAILED ``amount_not_representable`` / ``currency_not_supported``, nothing
  sent) what its processor cannot take. The payments app checks the same table before any call.
"""

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar, Literal

if TYPE_CHECKING:
    from .currencies import CurrencyTable


class Outcome(StrEnum):
    SUCCEEDED = "succeeded"  # the operation happened (authorized / captured / voided / refunded)
    REQUIRES_ACTION = "requires_action"  # the customer must visit redirect_url (3-D Secure, PayPal)
    DECLINED = "declined"  # refused by the processor or issuer; no money moved; decline_code set
    PENDING = "pending"  # accepted; the final outcome arrives later (status query or webhook)
    FAILED = "failed"  # not processed, provably (connection refused, breaker open, documented 5xx)
    UNKNOWN = "unknown"  # may or may not have happened (timeout, lost reply): ask with status()


@dataclass(frozen=True)
class CardDetails:
    number: str
    exp_month: int
    exp_year: int
    cvc: str | None = None  # held in memory for the one processor call only
    holder_name: str = ""

    def __repr__(self) -> str:
        return f"CardDetails(****{self.number[-4:]}, {self.exp_month:02d}/{self.exp_year})"

    __str__ = __repr__


@dataclass(frozen=True)
class AuthorizeRequest:
    reference: str  # our payment attempt id; the processor idempotency key
    amount: int  # minor units
    currency: str  # ISO 4217, upper case
    capture: bool  # True: authorize and capture at once; False: authorize only (manual capture)
    payment_method_type: Literal["card", "paypal"]
    return_url: str  # where the customer's browser comes back after a redirect action
    card: CardDetails | None = None
    merchant_id: str = ""
    description: str = ""
    metadata: dict[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:  # never print card data
        return f"AuthorizeRequest({self.reference}, {self.amount} {self.currency}, {self.payment_method_type})"


@dataclass(frozen=True)
class ProcessorResult:
    outcome: Outcome
    processor_reference: str | None = None  # the processor's id of the charge/order/refund
    amount_authorized: int = 0
    amount_captured: int = 0
    amount_refunded: int = 0
    redirect_url: str | None = None
    decline_code: str | None = None  # e.g. insufficient_funds
    error_code: str | None = None  # e.g. card_declined, processing_error, circuit_open, timeout
    message: str | None = None
    raw_status: str | None = None  # the processor's own status word, for the attempt record
    latency_ms: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class WebhookEvent:
    """A verified incoming processor notification, normalised."""

    processor_event_id: str
    type: str  # processor's event type, e.g. payment_intent.succeeded
    processor_reference: str | None  # charge/order id it concerns
    refund_reference: str | None = None
    result: ProcessorResult | None = None
    raw: dict[str, Any] = field(default_factory=dict)
    # Our own id (the ``reference`` we sent, e.g. Stripe ``metadata.gateway_reference``) of the
    # payment attempt / refund, when the event carries it: matches an operation whose reply was lost.
    gateway_reference: str | None = None
    gateway_refund_reference: str | None = None
    # The processor's dispute id (Stripe ``du_``/``dp_``, PayPal ``PP-D-``) when the event is about a
    # dispute: the disputes app then reads the dispute from the processor (``Connector.dispute``).
    dispute_reference: str | None = None


@dataclass(frozen=True)
class DisputeInfo:
    """A dispute as the processor reports it when asked (``Connector.dispute``), normalised.

    ``status`` is one of ``disputes.state.DISPUTE_STATUSES`` (Stripe's vocabulary; other processors
    map onto it); ``raw_status`` is the processor's own word. Amounts in ISO 4217 minor units.
    ``charge_references``: the processor's ids that may name the disputed charge (Stripe's
    PaymentIntent and charge, PayPal's capture), matched against our attempts."""

    processor_reference: str
    status: str
    raw_status: str
    amount: int
    currency: str
    reason: str
    charge_references: tuple[str, ...]
    evidence_due_by: int | None = None  # unix seconds
    fee: int = 0  # what the processor withdrew as its dispute fee
    fee_returned: int = 0  # what it gave back (a won dispute, where the processor returns fees)
    created: int | None = None
    # A fee the processor charged in another currency than the dispute's (its settlement currency):
    # not in ``fee``/``fee_returned`` (the books post a dispute in one currency); reconciliation sees
    # it as a line of that currency. Its currency code, for the dispute's record; "" when none.
    fee_currency_elsewhere: str = ""


class DisputeLookupError(Exception):
    """The dispute could not be read now (network, 5xx, 404): try again later; nothing is changed."""


class WebhookVerificationError(Exception):
    pass


class SettlementKind(StrEnum):
    CHARGE = "charge"  # money in: a captured charge (Stripe charge/payment, PayPal T00xx)
    REFUND = "refund"  # money back to the customer (Stripe refund/payment_refund, PayPal T1107)
    DISPUTE = "dispute"  # withdrawn for a chargeback, or reinstated (negative / positive amount)
    FEE = "fee"  # a fee not attached to one charge (Stripe stripe_fee, ...)
    OTHER = "other"  # anything else that moved the balance (adjustments, transfers...)


@dataclass(frozen=True)
class SettlementLine:
    """One movement of the processor balance, normalised from the processor's own record.

    Amounts are ISO 4217 minor units (converted with the processor's currency rules), signed as they
    move the balance: a charge is positive, a refund negative. ``fee`` is what the processor kept
    (positive; negative when it returned a fee); ``net`` = ``amount`` - ``fee``.
    """

    line_id: str  # the processor's id of this movement (Stripe txn_..., PayPal transaction id)
    kind: SettlementKind
    processor_reference: str  # the charge's / refund's own id (Stripe pi_ or re_, PayPal capture or refund id)
    amount: int
    fee: int
    net: int
    currency: str
    created: datetime
    status: str = "succeeded"  # succeeded | pending | failed (the movement's state at the processor)
    # Our reference when the processor carries it (Stripe metadata[gateway_reference], PayPal custom_id).
    gateway_reference: str | None = None
    # For a refund or dispute: the charge it belongs to (its processor reference), when known.
    charge_reference: str | None = None
    payout_id: str | None = None
    description: str = ""


@dataclass(frozen=True)
class SettlementPayout:
    payout_id: str
    amount: int  # minor units, positive: what left the processor balance for the bank
    currency: str
    status: str  # pending | in_transit | paid | failed | canceled (Stripe's words)
    created: datetime
    arrival: datetime | None = None


@dataclass(frozen=True)
class SettlementReport:
    """The processor's own record of [start, end): every balance movement and every payout."""

    processor: str
    start: datetime
    end: datetime
    lines: tuple[SettlementLine, ...]
    payouts: tuple[SettlementPayout, ...] = ()


class Connector(ABC):
    """One processor account's connection. ``config`` holds decrypted credentials, base URL and
    timeouts; a connector instance is cheap and may be built per call."""

    name: str = ""
    # The processor's currency rules; None: it takes every ISO 4217 currency in ISO minor units.
    currencies: ClassVar["CurrencyTable | None"] = None

    def __init__(self, *, account_id: str, config: dict[str, Any]):
        self.account_id = account_id
        self.config = config

    @abstractmethod
    def authorize(self, request: AuthorizeRequest) -> ProcessorResult:
        """Create the charge (authorize, or authorize+capture when request.capture)."""

    @abstractmethod
    def complete(self, *, reference: str, processor_reference: str, capture: bool) -> ProcessorResult:
        """Finish after the customer's redirect action (3-D Secure done, PayPal approved)."""

    @abstractmethod
    def capture(self, *, reference: str, processor_reference: str, amount: int, currency: str) -> ProcessorResult:
        """Capture ``amount`` (<= authorized) of an authorization; the rest is released."""

    @abstractmethod
    def void(self, *, reference: str, processor_reference: str) -> ProcessorResult:
        """Cancel an uncaptured authorization (or an unfinished redirect flow)."""

    @abstractmethod
    def refund(self, *, reference: str, processor_reference: str, amount: int, currency: str) -> ProcessorResult:
        """Refund part or all of a capture. ``reference`` is our refund id."""

    @abstractmethod
    def status(self, *, reference: str, processor_reference: str | None) -> ProcessorResult:
        """Ask what became of an operation (by our reference when the processor reference is unknown)."""

    def refund_status(
        self,
        *,
        reference: str,
        processor_refund_reference: str | None,
        processor_reference: str | None = None,
        amount: int | None = None,
        currency: str | None = None,
    ) -> ProcessorResult:
        """What became of a refund: by the processor's refund id, else by our ``reference`` among the
        refunds of the charge ``processor_reference``. A search that cannot be exhaustive is UNKNOWN,
        never a "not found" (that would let the payments app call a refund that happened failed).
        ``amount`` and ``currency`` (the refund's) let a connector whose processor cannot be searched
        by our reference repeat the refund under the same idempotency key (PayPal replays it)."""
        raise NotImplementedError(f"{self.name} does not support refund status queries")

    def parse_webhook(self, *, headers: dict[str, str], body: bytes) -> WebhookEvent:
        raise WebhookVerificationError(f"{self.name} does not accept webhooks")

    def dispute(self, *, processor_dispute_reference: str) -> DisputeInfo:
        """Read a dispute by the processor's id (a webhook names it; the answer is what counts).
        Raises ``DisputeLookupError`` when it cannot be read now."""
        raise DisputeLookupError(f"{self.name} does not report disputes")

    def settlement_report(self, *, start: datetime, end: datetime) -> SettlementReport:
        """The processor's own record of the balance movements created in [start, end) and the
        payouts created in it, paged through to the end (a partial report would make every charge
        on a missing page look ``missing_at_processor``: a connector raises instead). Read-only."""
        raise NotImplementedError(f"{self.name} does not provide settlement reports")

    def payout(self, *, payout_id: str, created: datetime | None = None) -> SettlementPayout:
        """One payout as it is now, by the processor's id (``created``: when it was made, for a
        processor that can only search by date): how reconciliation follows a payout still open
        in the books to ``paid`` or ``failed``. Raises ``SettlementUnavailable`` when it cannot be
        read now. Read-only."""
        raise NotImplementedError(f"{self.name} does not report single payouts")


class WebhookVerificationUnavailable(Exception):
    """The signature could not be checked right now (the processor's verification API is down):
    answer non-2xx so the processor redelivers later."""


class SettlementUnavailable(Exception):
    """The processor's record could not be read completely (network, an error answer, a page that
    did not come): nothing is reconciled from a partial report."""
