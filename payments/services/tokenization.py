"""Browser tokenization: ``POST /v1/payment_methods`` (publishable key) turns a card into a
``pm_...`` the merchant's server can pay with, so the merchant's own form never sends a card
number to the merchant's server.

A tokenized method not attached to a customer is *single use*: one payment of the same merchant
and mode may take it, within ``PAYMENT_METHOD_SINGLE_USE_SECONDS`` (30 minutes) of its creation.
The claim (``consumed_at``) is a conditional update inside the confirming transaction, so two
payments racing for one token cannot both have it, and a confirmation that rolls back releases it.
Once attached to a customer (the payment had ``save_payment_method``) it is reusable like any
saved card. Unused tokens lose their ciphertext when they expire (``payment_methods_expired_purge``).
"""

from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from .. import vault
from ..cards import card_validate
from ..models import PaymentMethod, PaymentMethodType


def payment_method_tokenize(*, merchant_id: str, livemode: bool, card: dict) -> PaymentMethod:
    """Validate the card (400s name ``card.number``...; nothing echoes it) and vault it, single use."""
    validated = card_validate(
        number=card.get("number"),
        exp_month=card.get("exp_month"),
        exp_year=card.get("exp_year"),
        cvc=card.get("cvc"),
        param_prefix="card",
    )
    return PaymentMethod.objects.create(
        merchant_id=merchant_id,
        livemode=livemode,
        type=PaymentMethodType.CARD,
        card_brand=validated.brand,
        card_last4=validated.last4,
        card_exp_month=validated.exp_month,
        card_exp_year=validated.exp_year,
        card_fingerprint=vault.card_fingerprint(validated.number),
        vault_token=vault.card_encrypt(
            number=validated.number, exp_month=validated.exp_month, exp_year=validated.exp_year
        ),
        single_use_expires_at=timezone.now() + timedelta(seconds=settings.PAYMENT_METHOD_SINGLE_USE_SECONDS),
    )


def payment_method_for_use(*, merchant_id: str, livemode: bool, payment_method_id: str) -> PaymentMethod | None:
    """The method a payment may use by id (inside the confirming transaction): a customer's saved
    method, or a single-use token not yet used nor expired, which this call claims. None: not
    usable (unknown, another merchant's or mode's, detached, used, expired) -> a 404 to the caller."""
    now = timezone.now()
    stored = (
        PaymentMethod.objects.filter(
            merchant_id=merchant_id, livemode=livemode, pk=payment_method_id, detached_at__isnull=True
        )
        .filter(Q(customer__isnull=False) | Q(single_use_expires_at__gt=now, consumed_at__isnull=True))
        .first()
    )
    if stored is None or stored.customer_id is not None:
        return stored
    claimed = PaymentMethod.objects.filter(
        pk=stored.pk, customer__isnull=True, consumed_at__isnull=True, single_use_expires_at__gt=now
    ).update(consumed_at=now, updated=now)
    if not claimed:
        return None
    stored.consumed_at = now
    return stored


def payment_methods_expired_purge(*, now=None, batch_size: int = 1000) -> int:
    """Erase the ciphertext of single-use tokens that expired unused. Returns how many."""
    now = now or timezone.now()
    ids = list(
        PaymentMethod.objects.filter(customer__isnull=True, consumed_at__isnull=True, single_use_expires_at__lte=now)
        .exclude(vault_token="")
        .values_list("pk", flat=True)[:batch_size]
    )
    return PaymentMethod.objects.filter(pk__in=ids, consumed_at__isnull=True).update(vault_token="", updated=now)
