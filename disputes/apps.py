from django.apps import AppConfig


class DisputesConfig(AppConfig):
    name = "disputes"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Processor notifications about disputes (webhooks, the sandbox) come here; processors
        # never imports this app.
        from processors.services import processor_dispute_handler_set

        from .services import dispute_notified

        processor_dispute_handler_set(dispute_notified)
