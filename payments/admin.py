"""Operators' view of payments, refunds and saved payment methods.

Money fields are read-only: money moves only through the services (processor call, ledger,
events). Actions run those services. No ciphertext is ever shown (``vault_token`` is excluded).
"""

from django import forms
from django.contrib import admin

from audit.admin_mixins import AuditedReadOnlyAdmin
from audit.confirmation import confirmed_operation
from gateway.admin_mixins import ReadOnlyTabularInline
from gateway.money import to_decimal_string

from .models import Payment, PaymentAttempt, PaymentMethod, Refund
from .services import payment_cancel, payment_capture, payment_sync, refund_create


class PaymentAttemptInline(ReadOnlyTabularInline):
    model = PaymentAttempt
    fields = (
        "id",
        "operation",
        "status",
        "processor",
        "processor_account_id",
        "processor_reference",
        "amount",
        "error_code",
        "decline_code",
        "latency_ms",
        "sync_attempts",
        "next_sync_at",
        "flagged_at",
        "created",
    )
    readonly_fields = fields
    ordering = ("id",)


class RefundInline(ReadOnlyTabularInline):
    model = Refund
    fields = ("id", "amount", "status", "reason", "failure_reason", "processor_reference", "flagged_at", "created")
    readonly_fields = fields
    ordering = ("id",)


@admin.register(Payment)
class PaymentAdmin(AuditedReadOnlyAdmin):
    list_display = (
        "id",
        "merchant",
        "status",
        "amount_display",
        "amount_received",
        "amount_refunded",
        "review_reason",
        "created",
    )
    list_filter = ("status", "capture_method", "processor", "livemode", "created")
    search_fields = ("id", "processor_reference", "order__id", "customer__id")
    list_select_related = ("merchant",)
    date_hierarchy = "created"
    inlines = [PaymentAttemptInline, RefundInline]
    actions = ["refund_payment", "capture_payment", "cancel_payment", "sync_payment"]
    readonly_fields = [f.name for f in Payment._meta.fields]
    fields = (
        "id",
        "merchant",
        "livemode",
        "status",
        "amount",
        "currency",
        "capture_method",
        "amount_authorized",
        "amount_capturable",
        "amount_received",
        "amount_refunded",
        "order",
        "customer",
        "payment_method",
        "payment_method_type",
        "card_brand",
        "card_last4",
        "card_exp_month",
        "card_exp_year",
        "card_fingerprint",
        "processor",
        "processor_account_id",
        "processor_reference",
        "last_payment_error",
        "next_action",
        "decline_count",
        "review_reason",
        "description",
        "metadata",
        "return_url",
        "canceled_at",
        "cancellation_reason",
        "created",
        "updated",
    )

    @admin.display(description="amount")
    def amount_display(self, obj: Payment) -> str:
        return f"{to_decimal_string(obj.amount, obj.currency)} {obj.currency}"

    def _facts(self, payment: Payment) -> list[tuple[str, object]]:
        return [
            ("payment", payment.id),
            ("merchant", payment.merchant_id),
            ("status", payment.status),
            ("amount", f"{payment.amount} {payment.currency}"),
            ("amount_capturable", payment.amount_capturable),
            ("amount_received", payment.amount_received),
            ("amount_refunded", payment.amount_refunded),
        ]

    def _operation(self, request, queryset, *, action: str, title: str, run, form_class=forms.Form):
        return confirmed_operation(
            self,
            request,
            queryset,
            action=action,
            audit_action=f"payment.{action.removesuffix('_payment')}",
            title=title,
            facts=self._facts,
            run=run,
            form_class=form_class,
        )

    @admin.action(description="Refund (confirm on the next page)", permissions=["operate_payments"])
    def refund_payment(self, request, queryset):
        def run(payment: Payment, data: dict) -> str:
            refund = refund_create(
                merchant_id=payment.merchant_id,
                livemode=payment.livemode,
                payment_id=payment.id,
                amount=data.get("amount"),
                reason=data.get("reason") or "",
            )
            return f"refund {refund.id} {refund.status} ({refund.amount} {refund.currency})"

        return self._operation(
            request, queryset, action="refund_payment", title="Refund payment", run=run, form_class=RefundConfirmForm
        )

    @admin.action(description="Capture (confirm on the next page)", permissions=["operate_payments"])
    def capture_payment(self, request, queryset):
        def run(payment: Payment, data: dict) -> str:
            captured = payment_capture(
                merchant_id=payment.merchant_id,
                livemode=payment.livemode,
                payment_id=payment.id,
                amount_to_capture=data.get("amount_to_capture"),
            )
            return f"{captured.status} (received {captured.amount_received} {captured.currency})"

        return self._operation(
            request, queryset, action="capture_payment", title="Capture payment", run=run, form_class=CaptureConfirmForm
        )

    @admin.action(
        description="Cancel: void the authorization (confirm on the next page)", permissions=["operate_payments"]
    )
    def cancel_payment(self, request, queryset):
        def run(payment: Payment, data: dict) -> str:
            return payment_cancel(
                merchant_id=payment.merchant_id, livemode=payment.livemode, payment_id=payment.id
            ).status

        return self._operation(request, queryset, action="cancel_payment", title="Cancel payment", run=run)

    @admin.action(
        description="Sync: ask the processor about unresolved operations (confirm)", permissions=["operate_payments"]
    )
    def sync_payment(self, request, queryset):
        def run(payment: Payment, data: dict) -> str:
            return payment_sync(payment_id=payment.id, scheduled=False).status

        return self._operation(
            request, queryset, action="sync_payment", title="Sync payment with its processor", run=run
        )

    # Audited on their confirmation page, before the processor call (audit.confirmation).
    refund_payment.audit_confirmed = True  # type: ignore[attr-defined]
    capture_payment.audit_confirmed = True  # type: ignore[attr-defined]
    cancel_payment.audit_confirmed = True  # type: ignore[attr-defined]
    sync_payment.audit_confirmed = True  # type: ignore[attr-defined]


class RefundConfirmForm(forms.Form):
    amount = forms.IntegerField(
        required=False, min_value=1, help_text="Minor units; empty: everything not yet refunded."
    )
    reason = forms.ChoiceField(
        required=False,
        choices=[
            ("", "-"),
            ("duplicate", "duplicate"),
            ("fraudulent", "fraudulent"),
            ("requested_by_customer", "requested_by_customer"),
        ],
    )


class CaptureConfirmForm(forms.Form):
    amount_to_capture = forms.IntegerField(required=False, min_value=1, help_text="Minor units; empty: all capturable.")


@admin.register(Refund)
class RefundAdmin(AuditedReadOnlyAdmin):
    list_display = (
        "id",
        "merchant",
        "payment",
        "amount",
        "currency",
        "status",
        "failure_reason",
        "flagged_at",
        "created",
    )
    list_filter = ("status", "reason", "livemode", "created")
    search_fields = ("id", "payment__id", "processor_reference")
    list_select_related = ("merchant", "payment")
    readonly_fields = [f.name for f in Refund._meta.fields]


@admin.register(PaymentMethod)
class PaymentMethodAdmin(AuditedReadOnlyAdmin):
    list_display = ("id", "merchant", "customer", "type", "card_brand", "card_last4", "detached_at", "created")
    list_filter = ("type", "card_brand", "livemode")
    search_fields = ("id", "customer__id", "card_fingerprint", "card_last4")
    exclude = ("vault_token",)
    readonly_fields = [f.name for f in PaymentMethod._meta.fields if f.name != "vault_token"]
