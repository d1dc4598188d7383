"""The built-in sandbox processor behind ``processors.base.Connector``: a thin connector over the
sandbox's own book (``sandbox.book``), every call passing through its failure injection
(``sandbox.faults``). Test cards and their outcomes: ``sandbox.cards``."""

from datetime import datetime

from processors.base import (
    AuthorizeRequest,
    Connector,
    DisputeInfo,
    ProcessorResult,
    SettlementPayout,
    SettlementReport,
)
from processors.registry import register

from . import book, settlement
from .disputes import dispute_info
from .faults import faults_applied


@register
class SandboxConnector(Connector):
    name = "sandbox"

    @property
    def merchant_id(self) -> str:
        return str(self.config.get("merchant_id") or "")

    def _run(self, operation: str, call) -> ProcessorResult:
        return faults_applied(
            merchant_id=self.merchant_id,
            operation=operation,
            call=call,
            config_version=self.config.get("config_version"),
        )

    def authorize(self, request: AuthorizeRequest) -> ProcessorResult:
        return self._run("authorize", lambda: book.charge_authorize(merchant_id=self.merchant_id, request=request))

    def complete(self, *, reference: str, processor_reference: str, capture: bool) -> ProcessorResult:
        return self._run(
            "complete",
            lambda: book.charge_complete(
                merchant_id=self.merchant_id, processor_reference=processor_reference, capture=capture
            ),
        )

    def capture(self, *, reference: str, processor_reference: str, amount: int, currency: str) -> ProcessorResult:
        return self._run(
            "capture",
            lambda: book.charge_capture(
                merchant_id=self.merchant_id,
                reference=reference,
                processor_reference=processor_reference,
                amount=amount,
                currency=currency,
            ),
        )

    def void(self, *, reference: str, processor_reference: str) -> ProcessorResult:
        return self._run(
            "void",
            lambda: book.charge_void(
                merchant_id=self.merchant_id, reference=reference, processor_reference=processor_reference
            ),
        )

    def refund(self, *, reference: str, processor_reference: str, amount: int, currency: str) -> ProcessorResult:
        return self._run(
            "refund",
            lambda: book.refund_create(
                merchant_id=self.merchant_id,
                reference=reference,
                processor_reference=processor_reference,
                amount=amount,
                currency=currency,
            ),
        )

    def status(self, *, reference: str, processor_reference: str | None) -> ProcessorResult:
        return self._run(
            "status",
            lambda: book.charge_status(
                merchant_id=self.merchant_id, reference=reference, processor_reference=processor_reference
            ),
        )

    def refund_status(
        self,
        *,
        reference: str,
        processor_refund_reference: str | None,
        processor_reference: str | None = None,
        amount: int | None = None,
        currency: str | None = None,
    ) -> ProcessorResult:
        return self._run(
            "refund_status",
            lambda: book.refund_status(
                merchant_id=self.merchant_id, reference=reference, processor_refund_reference=processor_refund_reference
            ),
        )

    def dispute(self, *, processor_dispute_reference: str) -> DisputeInfo:
        # A read, never failure-injected (like status queries): it is how the gateway learns.
        return dispute_info(merchant_id=self.merchant_id, dispute_id=processor_dispute_reference)

    def settlement_report(self, *, start: datetime, end: datetime) -> SettlementReport:
        # A report is not failure-injected: like status queries, it is how discrepancies are found.
        return settlement.settlement_report(merchant_id=self.merchant_id, start=start, end=end)

    def payout(self, *, payout_id: str, created: datetime | None = None) -> SettlementPayout:
        # Read by id as Stripe's GET /v1/payouts/{id}: how reconciliation sees it arrive.
        return settlement.sandbox_payout(merchant_id=self.merchant_id, payout_id=payout_id)
