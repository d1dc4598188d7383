"""The books check: the payments' own figures against the ledger's, and the ledger's own rules.

Read-only. Every scenario test ends with it, and the tests in ``tests/payments/test_reconciliation.py``
prove that it reports each kind of damage it exists for (written behind the services' back).
"""

from dataclasses import dataclass

from django.db.models import Sum

from ledger.selectors import PaymentLedgerTotals, ledger_problems, payment_ledger_totals

from .models import Payment, Refund, RefundStatus

# The ledger cannot give one currency's totals for these: reported by ledger_problems already.
_UNREADABLE_PROBLEMS = frozenset({"payment_mixed_currencies"})


@dataclass(frozen=True)
class _PaymentFigures:
    id: str
    currency: str
    amount: int
    authorized: int
    received: int
    refunded: int
    capturable: int


def ledger_check(*, merchant_id: str | None = None) -> list[str]:
    """Verify the money invariants between payments and the ledger; returns the violations (empty = OK).

    * every journal entry balances (and the other ledger-side rules of ``ledger_problems``);
    * per payment: captured and refunded in the ledger equal ``amount_received`` and
      ``amount_refunded`` (so captured - refunded equals the ledger's net), the succeeded refunds
      add up to ``amount_refunded``, and refunded <= captured <= authorized <= amount;
    * no ledger posting refers to a payment that does not exist.
    """
    problems = ledger_problems(merchant_id=merchant_id)
    violations = [f"ledger: {p.code} {p.subject}: {p.detail}" for p in problems]
    unreadable = {p.subject for p in problems if p.code in _UNREADABLE_PROBLEMS}
    totals = payment_ledger_totals(merchant_id=merchant_id, excluding=unreadable)
    refunded_by_payment = _succeeded_refunds(merchant_id=merchant_id)
    for payment in _payment_figures(merchant_id=merchant_id):
        if payment.id in unreadable:
            continue
        booked = totals.pop(payment.id, None)
        violations += _payment_violations(payment, booked, refunded_by_payment.get(payment.id, 0))
    violations += [f"{pid}: ledger postings for a payment that does not exist" for pid in sorted(totals)]
    return violations


def _payment_figures(*, merchant_id: str | None):
    payments = Payment.objects.all() if merchant_id is None else Payment.objects.filter(merchant_id=merchant_id)
    rows = payments.values_list(
        "id", "currency", "amount", "amount_authorized", "amount_received", "amount_refunded", "amount_capturable"
    )
    for row in rows.iterator(chunk_size=2000):
        yield _PaymentFigures(*row)


def _succeeded_refunds(*, merchant_id: str | None) -> dict[str, int]:
    refunds = Refund.objects.filter(status=RefundStatus.SUCCEEDED)
    if merchant_id is not None:
        refunds = refunds.filter(merchant_id=merchant_id)
    return dict(refunds.values("payment_id").annotate(total=Sum("amount")).values_list("payment_id", "total"))


def _payment_violations(p: _PaymentFigures, booked: PaymentLedgerTotals | None, refunds_succeeded: int) -> list[str]:
    captured_l, refunded_l = (booked.captured, booked.refunded) if booked else (0, 0)
    violations = []
    if booked and booked.currency != p.currency:
        violations.append(f"{p.id}: booked in {booked.currency}, payment is in {p.currency}")
    if captured_l != p.received:
        violations.append(f"{p.id}: ledger captured {captured_l} != amount_received {p.received}")
    if refunded_l != p.refunded:
        violations.append(f"{p.id}: ledger refunded {refunded_l} != amount_refunded {p.refunded}")
    if p.received - p.refunded != captured_l - refunded_l:
        violations.append(
            f"{p.id}: captured - refunded {p.received - p.refunded} != ledger net {captured_l - refunded_l}"
        )
    if refunds_succeeded != p.refunded:
        violations.append(f"{p.id}: succeeded refunds {refunds_succeeded} != amount_refunded {p.refunded}")
    if not 0 <= p.refunded <= p.received <= p.authorized <= p.amount:
        violations.append(
            f"{p.id}: not 0 <= refunded {p.refunded} <= captured {p.received} <= authorized {p.authorized}"
        )
    if p.capturable < 0 or p.capturable + p.received > p.authorized:
        violations.append(f"{p.id}: capturable {p.capturable} + captured {p.received} > authorized {p.authorized}")
    return violations
