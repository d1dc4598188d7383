# syntax=docker/dockerfile:1
FROM python:3.11-slim AS base

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    DJANGO_SETTINGS_MODULE=gateway_project.settings.production

WORKDIR /app

# Dependencies in their own layer: rebuilt only when requirements change.
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .
RUN SECRET_KEY=build-only-collectstatic-key-not-used-at-runtime-0123456789abcdef \
    DJANGO_SETTINGS_MODULE=gateway_project.settings.base \
    python manage.py collectstatic --noinput -v0 \
 && useradd --system --uid 10001 --home /app gateway \
 && chown -R gateway /app

USER gateway
EXPOSE 8000

HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status == 200 else 1)"

# --keep-alive above nginx's upstream keepalive_timeout (deploy/nginx.conf.template): the balancer
# closes an idle connection first, never sends a request on one gunicorn is closing.
CMD ["gunicorn", "gateway_project.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--threads", "4", "--timeout", "30", "--keep-alive", "75", "--access-logfile", "-"]
