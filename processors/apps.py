from django.apps import AppConfig


class ProcessorsConfig(AppConfig):
    name = "processors"
    default_auto_field = "django.db.models.BigAutoField"
