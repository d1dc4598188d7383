"""Stripe connector: PaymentIntents and Refunds over plain HTTP, as Stripe documents them.

* ``connector``: the ``Connector`` interface (``StripeConnector``, registered as "stripe");
* ``client``: authentication and transport (form encoding, ``Stripe-Version``, ``Idempotency-Key``);
* ``mapping``: Stripe's objects and errors -> ``ProcessorResult``;
* ``webhooks``: ``Stripe-Signature`` verification and events.
"""

from .client import form_encode
from .connector import StripeConnector
from .mapping import REFERENCE_METADATA_KEY, TEST_PAYMENT_METHODS
from .webhooks import stripe_signature_header

__all__ = [
    "REFERENCE_METADATA_KEY",
    "TEST_PAYMENT_METHODS",
    "StripeConnector",
    "form_encode",
    "stripe_signature_header",
]
