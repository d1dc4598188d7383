"""The sandbox's settlement report: its own book of a period in the shape every connector returns
(``processors.base.SettlementReport``), so reconciliation runs on sandbox payments as on a real
processor's.

* A captured charge is one line on the day the charge was created (the sandbox captures at once, or
  books a later manual capture on its charge's day), gross ``amount_captured``.
* Its fee is deterministic: 2.9 % of the gross, rounded half up to the minor unit, plus 30 minor
  units (``sandbox_fee``). A refund is a line of minus its amount with no fee (the fee is not
  returned, as at Stripe).
* Each full UTC day in the period that is over, with a positive net in a currency, is paid out at
  its last second, 23:59:59 UTC (``sbpayout_<YYYYMMDD>_<CUR>``, status ``paid``): the net of the
  day's lines. A day still running has no payout yet (its net may still change).
"""

from datetime import UTC, datetime, time, timedelta

from django.utils import timezone

from processors.base import SettlementKind, SettlementLine, SettlementPayout, SettlementReport

from .models import SandboxCharge, SandboxRefund

FEE_PER_MILLE = 29
FEE_FIXED = 30


def clock() -> datetime:
    """The sandbox's "now" (tests move it to see a day's payout)."""
    return timezone.now()


def sandbox_fee(amount: int) -> int:
    """2.9 % of ``amount`` rounded half up (integers only, never a float), plus 30 minor units."""
    return (amount * FEE_PER_MILLE + 500) // 1000 + FEE_FIXED


def settlement_report(*, merchant_id: str, start: datetime, end: datetime) -> SettlementReport:
    lines: list[SettlementLine] = []
    charges = SandboxCharge.objects.filter(
        merchant_id=merchant_id, created__gte=start, created__lt=end, amount_captured__gt=0
    ).order_by("created", "id")
    for charge in charges:
        fee = sandbox_fee(charge.amount_captured)
        lines.append(
            SettlementLine(
                line_id=f"sbtxn_{charge.id}",
                kind=SettlementKind.CHARGE,
                processor_reference=charge.id,
                amount=charge.amount_captured,
                fee=fee,
                net=charge.amount_captured - fee,
                currency=charge.currency,
                created=charge.created,
                gateway_reference=charge.reference,
                description=f"{charge.brand or charge.payment_method_type} {charge.last4}".strip(),
            )
        )
    refunds = SandboxRefund.objects.filter(merchant_id=merchant_id, created__gte=start, created__lt=end)
    for refund in refunds.select_related("charge").order_by("created", "id"):
        lines.append(
            SettlementLine(
                line_id=f"sbtxn_{refund.id}",
                kind=SettlementKind.REFUND,
                processor_reference=refund.id,
                amount=-refund.amount,
                fee=0,
                net=-refund.amount,
                currency=refund.currency,
                created=refund.created,
                gateway_reference=refund.reference,
                charge_reference=refund.charge_id,
            )
        )
    return SettlementReport(
        processor="sandbox", start=start, end=end, lines=tuple(lines), payouts=_daily_payouts(lines, start, end)
    )


def _daily_payouts(lines: list[SettlementLine], start: datetime, end: datetime) -> tuple[SettlementPayout, ...]:
    payouts = []
    day = start.astimezone(UTC).date()
    if datetime.combine(day, time.min, tzinfo=UTC) < start:
        day += timedelta(days=1)
    now = clock()
    while datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC) <= min(end, now):
        day_start = datetime.combine(day, time.min, tzinfo=UTC)
        day_end = day_start + timedelta(days=1)
        nets: dict[str, int] = {}
        for line in lines:
            if day_start <= line.created < day_end:
                nets[line.currency] = nets.get(line.currency, 0) + line.net
        for currency, net in sorted(nets.items()):
            if net > 0:
                at = day_end - timedelta(seconds=1)
                payouts.append(
                    SettlementPayout(
                        payout_id=f"sbpayout_{day:%Y%m%d}_{currency}",
                        amount=net,
                        currency=currency,
                        status="paid",
                        created=at,
                        arrival=at,
                    )
                )
        day += timedelta(days=1)
    return tuple(payouts)
