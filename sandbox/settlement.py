"""The sandbox's settlement report: its own book of a period in the shape every connector returns
(``processors.base.SettlementReport``), so reconciliation runs on sandbox payments as on a real
processor's.

* A captured charge is one line when it was captured (``captured_at``: at once, or the day a manual
  capture is made, as a Stripe balance transaction), gross ``amount_captured``.
* Its fee is deterministic: 2.9 % of the gross, rounded half up to the minor unit, plus 30 minor
  units (``sandbox_fee``). A refund is a line of minus its amount with no fee (the fee is not
  returned, as at Stripe).
* Payouts are the sandbox's own records (``SandboxPayout``), made once and never changed: for each
  finished UTC day and currency, at the first report or payout read that covers it (``payouts_make``),
  the net settled up to the day's last second (23:59:59 UTC, the cut-off) less every earlier payout,
  when positive (``sbpayout_<YYYYMMDD>_<CUR>``). A movement after a cut-off goes into a later payout;
  a day's negative net is carried into the next. Status by the clock: ``in_transit`` until its
  arrival one day after the cut-off, then ``paid``. A day still running has no payout yet.

Made lazily rather than by a beat task: a report is then the same whenever it is asked for, with or
without a worker (a day's payout cannot be missing because a beat did not run), and the only input,
movements settled before a past cut-off, no longer changes, so two readers making it at once make
the same rows (the unique constraint keeps one).
"""

from datetime import UTC, date, datetime, time, timedelta

from django.db.models.functions import Coalesce
from django.utils import timezone

from processors.base import (
    SettlementKind,
    SettlementLine,
    SettlementPayout,
    SettlementReport,
    SettlementUnavailable,
)

from .models import SandboxCharge, SandboxPayout, SandboxRefund

FEE_PER_MILLE = 29
FEE_FIXED = 30
ARRIVAL_AFTER = timedelta(days=1)


def clock() -> datetime:
    """The sandbox's "now" (tests move it to see a day's payout made and arrive)."""
    return timezone.now()


def sandbox_fee(amount: int) -> int:
    """2.9 % of ``amount`` rounded half up (integers only, never a float), plus 30 minor units."""
    return (amount * FEE_PER_MILLE + 500) // 1000 + FEE_FIXED


def _captured_charges(merchant_id: str):
    return SandboxCharge.objects.filter(merchant_id=merchant_id, amount_captured__gt=0).annotate(
        settled_at=Coalesce("captured_at", "created")
    )


def settlement_report(*, merchant_id: str, start: datetime, end: datetime) -> SettlementReport:
    lines: list[SettlementLine] = []
    charges = _captured_charges(merchant_id).filter(settled_at__gte=start, settled_at__lt=end)
    for charge in charges.order_by("settled_at", "id"):
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
                created=charge.settled_at,
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
    now = clock()
    payouts_make(merchant_id=merchant_id, now=now)
    made = SandboxPayout.objects.filter(merchant_id=merchant_id, cut_off__gte=start, cut_off__lt=end)
    return SettlementReport(
        processor="sandbox",
        start=start,
        end=end,
        lines=tuple(lines),
        payouts=tuple(_payout_shown(payout, now) for payout in made.order_by("day", "currency")),
    )


def sandbox_payout(*, merchant_id: str, payout_id: str) -> SettlementPayout:
    """One payout as it is now (``Connector.payout``: how reconciliation follows it to ``paid``)."""
    now = clock()
    payouts_make(merchant_id=merchant_id, now=now)
    payout = SandboxPayout.objects.filter(merchant_id=merchant_id, payout_id=payout_id).first()
    if payout is None:
        raise SettlementUnavailable(f"No such sandbox payout: {payout_id}")
    return _payout_shown(payout, now)


def _payout_shown(payout: SandboxPayout, now: datetime) -> SettlementPayout:
    return SettlementPayout(
        payout_id=payout.payout_id,
        amount=payout.amount,
        currency=payout.currency,
        status="paid" if now >= payout.arrival else "in_transit",
        created=payout.cut_off,
        arrival=payout.arrival,
    )


def _cut_off(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC) - timedelta(seconds=1)


def payouts_make(*, merchant_id: str, now: datetime) -> list[SandboxPayout]:
    """Make every payout of a finished UTC day not made yet, oldest first; returns those made.

    Payout of day D in a currency = net settled up to D's cut-off (inclusive) - every earlier
    payout in that currency, when positive. Movements before a past cut-off no longer change (a
    capture or refund is stamped when made), so this is the same whoever computes it first."""
    last_finished = now.astimezone(UTC).date() - timedelta(days=1)
    movements: list[tuple[datetime, str, int]] = [
        (at, currency, captured - sandbox_fee(captured))
        for at, currency, captured in _captured_charges(merchant_id).values_list(
            "settled_at", "currency", "amount_captured"
        )
    ]
    movements += [
        (at, currency, -amount)
        for at, currency, amount in SandboxRefund.objects.filter(merchant_id=merchant_id).values_list(
            "created", "currency", "amount"
        )
    ]
    if not movements:
        return []
    existing = list(SandboxPayout.objects.filter(merchant_id=merchant_id))
    paid_out: dict[str, int] = {}
    for payout in existing:
        paid_out[payout.currency] = paid_out.get(payout.currency, 0) + payout.amount
    first_day = min(at for at, _, _ in movements).astimezone(UTC).date()
    day = max(first_day, *(p.day + timedelta(days=1) for p in existing)) if existing else first_day
    movements.sort(key=lambda movement: movement[0])
    made: list[SandboxPayout] = []
    while day <= last_finished:
        cut_off = _cut_off(day)
        settled: dict[str, int] = {}
        for at, currency, net in movements:
            if at > cut_off:
                break
            settled[currency] = settled.get(currency, 0) + net
        for currency in sorted(settled):
            amount = settled[currency] - paid_out.get(currency, 0)
            if amount > 0:
                made.append(
                    SandboxPayout(
                        merchant_id=merchant_id,
                        payout_id=f"sbpayout_{day:%Y%m%d}_{currency}",
                        currency=currency,
                        day=day,
                        amount=amount,
                        cut_off=cut_off,
                        arrival=cut_off + ARRIVAL_AFTER,
                    )
                )
                paid_out[currency] = paid_out.get(currency, 0) + amount
        day += timedelta(days=1)
    # Another reader making the same payouts at once makes the same rows: keep the first.
    SandboxPayout.objects.bulk_create(made, ignore_conflicts=True)
    return made
