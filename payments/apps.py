from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "payments"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Verified processor webhooks (processors app) trigger a resolution of their payment here.
        from processors.services import processor_webhook_handler_set

        from .services import payment_apply_webhook

        processor_webhook_handler_set(payment_apply_webhook)
