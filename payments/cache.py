"""Redis cache of payment representations (``GET /v1/payments/{id}``): the gateway's generational
cache (``gateway.cache``). Every change invalidates it inside its transaction
(``payments.services.changes.payment_changed``)."""

from gateway.cache import GenerationalCache

PAYMENT_CACHE = GenerationalCache(namespace="payment", timeout_setting="PAYMENTS_CACHE_SECONDS")
