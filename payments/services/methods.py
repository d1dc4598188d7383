"""Payment methods: which method a payment uses (a new card, a saved one, PayPal), the card
vault's rows (``PaymentMethod``), their erasure after use, detaching and key rotation."""

from django.db import transaction
from django.utils import timezone

from gateway.crypto import needs_reencrypt
from gateway.errors import InvalidRequest, not_found
from processors.base import CardDetails

from .. import vault
from ..cards import ValidatedCard
from ..inputs import MethodInput
from ..locks import payment_method_lock
from ..models import Payment, PaymentMethod, PaymentMethodType
from .tokenization import payment_method_for_use


def _snapshot(payment: Payment, *, type: str, brand: str = "", last4: str = "", exp_month=None, exp_year=None,
              fingerprint: str = "") -> None:  # fmt: skip
    payment.payment_method_type = type
    payment.card_brand, payment.card_last4 = brand, last4
    payment.card_exp_month, payment.card_exp_year = exp_month, exp_year
    payment.card_fingerprint = fingerprint


def method_use(payment: Payment, method: MethodInput | None, *, vault_card: bool) -> CardDetails | None:
    """Set the payment's method from the input (or its attached one); returns the card for the
    processor call. A card is vaulted (``PaymentMethod``) when it must outlive this request."""
    if method is None:
        return _attached_use(payment)
    if method.type == "paypal":
        return _paypal_use(payment)
    if method.type == "saved":
        return _saved_use(payment, payment_method_id=method.payment_method_id)
    assert method.card is not None
    return _card_use(payment, method.card, vault_card=vault_card)


def _attached_use(payment: Payment) -> CardDetails | None:
    if payment.payment_method_type == PaymentMethodType.PAYPAL:
        return None
    if payment.payment_method_id:
        stored = PaymentMethod.objects.filter(pk=payment.payment_method_id, detached_at__isnull=True).first()
        if stored is not None and stored.vault_token:
            return vault.card_decrypt(stored.vault_token)
    raise InvalidRequest(
        "A payment_method is required to confirm this payment.", code="parameter_missing", param="payment_method"
    )


def _paypal_use(payment: Payment) -> None:
    if payment.save_payment_method:
        raise InvalidRequest("Only cards can be saved.", code="parameter_invalid", param="save_payment_method")
    _snapshot(payment, type=PaymentMethodType.PAYPAL)
    payment.payment_method = None
    return None


def _saved_use(payment: Payment, *, payment_method_id: str | None) -> CardDetails | None:
    # A customer's saved method, or a browser-tokenized single-use one (claimed here).
    stored = payment_method_for_use(
        merchant_id=payment.merchant_id, livemode=payment.livemode, payment_method_id=payment_method_id
    )
    if stored is None or (stored.type == PaymentMethodType.CARD and not stored.vault_token):
        raise not_found("payment_method", payment_method_id, param="payment_method")
    if stored.customer_id is not None and stored.customer_id != payment.customer_id:
        raise InvalidRequest(
            "This payment method belongs to a customer; pass that customer with the payment.",
            code="payment_method_customer_mismatch",
            param="payment_method",
        )
    _snapshot(
        payment,
        type=stored.type,
        brand=stored.card_brand,
        last4=stored.card_last4,
        exp_month=stored.card_exp_month,
        exp_year=stored.card_exp_year,
        fingerprint=stored.card_fingerprint,
    )
    payment.payment_method = stored
    if stored.customer_id is not None:
        payment.save_payment_method = False  # it is saved already
    return vault.card_decrypt(stored.vault_token) if stored.type == PaymentMethodType.CARD else None


def _card_use(payment: Payment, card: ValidatedCard, *, vault_card: bool) -> CardDetails:
    fingerprint = vault.card_fingerprint(card.number)
    _snapshot(
        payment,
        type=PaymentMethodType.CARD,
        brand=card.brand,
        last4=card.last4,
        exp_month=card.exp_month,
        exp_year=card.exp_year,
        fingerprint=fingerprint,
    )
    if payment.save_payment_method and not payment.customer_id:
        raise InvalidRequest("save_payment_method needs a customer.", code="parameter_missing", param="customer")
    if not (vault_card or payment.save_payment_method):
        payment.payment_method = None
    else:
        payment.payment_method = PaymentMethod.objects.create(
            merchant_id=payment.merchant_id,
            livemode=payment.livemode,
            type=PaymentMethodType.CARD,
            card_brand=card.brand,
            card_last4=card.last4,
            card_exp_month=card.exp_month,
            card_exp_year=card.exp_year,
            card_fingerprint=fingerprint,
            vault_token=vault.card_encrypt(number=card.number, exp_month=card.exp_month, exp_year=card.exp_year),
        )
    return card.to_card_details()


def method_after_use(payment: Payment) -> None:
    """Attach the card to the customer when asked to; otherwise a single-use vaulted card is
    erased as soon as the processor no longer needs it."""
    if not payment.payment_method_id:
        return
    single_use = PaymentMethod.objects.filter(pk=payment.payment_method_id, customer__isnull=True)
    if payment.save_payment_method and payment.customer_id:
        single_use.update(customer_id=payment.customer_id, updated=timezone.now())
    else:
        single_use.exclude(vault_token="").update(vault_token="", updated=timezone.now())


def payment_method_detach(
    *, merchant_id: str, customer_id: str, payment_method_id: str, livemode: bool = False
) -> PaymentMethod:
    """The customer removes a saved method: it can no longer pay, and its ciphertext is erased."""
    with transaction.atomic():
        method = payment_method_lock(
            merchant_id=merchant_id, livemode=livemode, customer_id=customer_id, payment_method_id=payment_method_id
        )
        if method is None:
            raise not_found("payment_method", payment_method_id)
        method.detached_at = timezone.now()
        method.vault_token = ""
        method.save(update_fields=["detached_at", "vault_token", "updated"])
        return method


def payment_methods_reencrypt(*, batch_size: int = 500) -> int:
    """Re-encrypt every stored card under the newest vault key (key rotation). Returns how many changed."""
    changed = 0
    last_id = ""
    while True:
        batch = list(
            PaymentMethod.objects.filter(pk__gt=last_id)
            .exclude(vault_token="")
            .order_by("pk")
            .values_list("pk", "vault_token")[:batch_size]
        )
        if not batch:
            return changed
        for method_id, token in batch:
            last_id = method_id
            if not needs_reencrypt(token):
                continue
            # Only replace the ciphertext we read: a concurrent detach (which erases it) wins.
            changed += PaymentMethod.objects.filter(pk=method_id, vault_token=token).update(
                vault_token=vault.card_reencrypt(token), updated=timezone.now()
            )
