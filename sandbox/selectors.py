"""Reads of the sandbox app (the redirect pages; tests use them to look at the processor's book)."""

from django.db.models import Q

from .models import SandboxCharge, SandboxFaultPlan, SandboxRefund


def sandbox_charge_get(*, charge_id: str) -> SandboxCharge | None:
    return SandboxCharge.objects.filter(id=charge_id).first()


def sandbox_charge_by_reference(*, merchant_id: str, reference: str) -> SandboxCharge | None:
    return SandboxCharge.objects.filter(merchant_id=merchant_id, reference=reference).first()


def sandbox_refunds_for_charge(*, charge_id: str) -> list[SandboxRefund]:
    return list(SandboxRefund.objects.filter(charge_id=charge_id).order_by("id"))


def sandbox_fault_plan_remaining(*, merchant_id: str) -> int:
    return SandboxFaultPlan.objects.filter(merchant_id=merchant_id).values_list("remaining", flat=True).first() or 0


def sandbox_merchants_active(*, since, until) -> list[str]:
    """Merchants (sandbox accounts) with a charge or refund booked in [since, until)."""
    # A charge settles when captured (a manual capture days after the charge was made).
    charged = SandboxCharge.objects.filter(
        Q(created__gte=since, created__lt=until) | Q(captured_at__gte=since, captured_at__lt=until)
    ).values_list("merchant_id", flat=True)
    refunded = SandboxRefund.objects.filter(created__gte=since, created__lt=until).values_list("merchant_id", flat=True)
    return sorted(set(charged) | set(refunded))
