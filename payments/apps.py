from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "payments"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Verified processor webhooks (processors app) trigger a resolution of their payment here.
        from gateway.fastread import fast_read_register
        from gateway.idempotency import idempotency_recoverer_register
        from processors.services import processor_webhook_handler_set

        from .cache import PAYMENT_CACHE
        from .services import payment_apply_webhook, payment_recover, refund_recover

        processor_webhook_handler_set(payment_apply_webhook)
        # A retry of an idempotent request that is no longer running answers with what it created.
        idempotency_recoverer_register("payment", payment_recover)
        idempotency_recoverer_register("refund", refund_recover)
        # GET /v1/payments/{id} answers PAYMENT_CACHE's entry (selectors.payment_data_cached): a hit
        # is answered in one Redis round trip without DRF (gateway.fastread).
        fast_read_register(url_name="payment-detail", kwarg="payment_id", cache=PAYMENT_CACHE)
