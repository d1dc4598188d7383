from django.apps import AppConfig


class ProcessorsConfig(AppConfig):
    name = "processors"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import paypal, stripe  # noqa: F401  (register the "stripe" and "paypal" connectors)
