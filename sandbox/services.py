"""Writes of the sandbox app: the customer's answer on a redirect page, and failure plans."""

from collections.abc import Iterable

from django.db import transaction

from .cards import AUTHENTICATION_FAILED, PAYPAL_CANCELED
from .faults import FAULT_OPERATIONS, fault_operations_field, sandbox_config_changed
from .models import SandboxCharge, SandboxFaultPlan

Status = SandboxCharge.Status
Action = SandboxCharge.Action

ACTION_KINDS = {"card": "three_d_secure", "paypal": "paypal"}


class ActionNotAllowed(Exception):
    pass


@transaction.atomic
def sandbox_action_record(*, charge_id: str, kind: str, approve: bool) -> SandboxCharge:
    """Record the customer's answer on the 3-D Secure challenge or PayPal approval page.

    Approval only marks the charge; ``Connector.complete`` then authorizes/captures it. A failed
    challenge or a cancelled approval declines the charge at once (the payment may be retried with
    another method). Answering twice changes nothing: the first answer stands.
    """
    charge = SandboxCharge.objects.select_for_update().filter(id=charge_id).first()
    if charge is None or ACTION_KINDS.get(charge.payment_method_type) != kind:
        raise SandboxCharge.DoesNotExist(charge_id)
    if charge.status != Status.REQUIRES_ACTION or charge.action != Action.PENDING:
        return charge
    if approve:
        charge.action = Action.APPROVED
    else:
        failure = AUTHENTICATION_FAILED if kind == "three_d_secure" else PAYPAL_CANCELED
        charge.action = Action.FAILED if kind == "three_d_secure" else Action.CANCELED
        charge.status = Status.DECLINED
        charge.decline_code = failure["decline_code"]
        charge.error_code = failure["error_code"]
    charge.save()
    return charge


def sandbox_fault_plan_set(
    *, merchant_id: str, count: int, mode: str = "failed", operations: Iterable[str] = ()
) -> SandboxFaultPlan:
    """Make the next ``count`` sandbox calls of this merchant fail in ``mode`` (deterministic injection).

    ``operations`` limits the plan to some of authorize/complete/capture/void/refund (default: all).
    ``count=0`` clears the plan.
    """
    if mode not in SandboxFaultPlan.Mode.values:
        raise ValueError(f"mode must be one of {SandboxFaultPlan.Mode.values}")
    ops = list(operations)
    unknown = set(ops) - set(FAULT_OPERATIONS)
    if unknown:
        raise ValueError(f"unknown operations {sorted(unknown)}; choose from {FAULT_OPERATIONS}")
    if count < 0:
        raise ValueError("count must be >= 0")
    plan, _ = SandboxFaultPlan.objects.update_or_create(
        merchant_id=merchant_id,
        defaults={"remaining": count, "mode": mode, "operations": fault_operations_field(ops)},
    )
    sandbox_config_changed(merchant_id)
    return plan
