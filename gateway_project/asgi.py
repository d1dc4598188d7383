import os

from django.core.asgi import get_asgi_application

# Served processes are production unless told otherwise; manage.py defaults to the embedded mode.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway_project.settings.production")
application = get_asgi_application()
