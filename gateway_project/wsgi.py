import os

from django.core.wsgi import get_wsgi_application

# Served processes are production unless told otherwise; manage.py defaults to the embedded mode.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway_project.settings.production")
application = get_wsgi_application()
