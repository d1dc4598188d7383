"""Settings shared by every environment, all read from the environment (12-factor).

With no DATABASE_URL/REDIS_URL the gateway runs in the *embedded* mode (SQLite file,
local-memory cache, eager Celery tasks) so it can be tried without any service.
Every variable is listed in the README's configuration table.
"""

import logging
import socket
from pathlib import Path

import dj_database_url

from .env import env, env_bool, env_int, env_list

BASE_DIR = Path(__file__).resolve().parent.parent.parent


# Development-only key; production.py refuses to start with it.
INSECURE_DEV_SECRET_KEY = "django-insecure-embedded-mode-only-never-use-in-production"
SECRET_KEY = env("SECRET_KEY", INSECURE_DEV_SECRET_KEY)
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")

DATABASE_URL = env("DATABASE_URL")
REDIS_URL = env("REDIS_URL")
EMBEDDED_MODE = DATABASE_URL is None and REDIS_URL is None

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "gateway",
    "audit",
    "merchants",
    "customers",
    "orders",
    "payments",
    "events",
    "processors",
    "sandbox",
    "ledger",
    "checkout",
    "disputes",
    "reconciliation",
]

MIDDLEWARE = [
    "gateway.middleware.RequestContextMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Before the browser-facing middleware below, which a cache hit it answers has no use for
    # (gateway/fastread.py: it runs what they would do to such a request and refuses any other).
    "gateway.fastread.FastReadMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "gateway_project.urls"
WSGI_APPLICATION = "gateway_project.wsgi.application"
APPEND_SLASH = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Behind PgBouncer in transaction pooling mode each transaction may run on another server
# connection, so nothing may outlive a transaction: no server-side (WITH HOLD) cursors.
DB_TRANSACTION_POOLING = env_bool("DB_TRANSACTION_POOLING", False)
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))}
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = DB_TRANSACTION_POOLING
    # Parameters sent apart from the SQL and, after DB_PREPARE_THRESHOLD runs of the same text on a
    # connection, prepared statements: PostgreSQL parses and plans a hot statement once per
    # connection (issue 14). Not behind PgBouncer in transaction pooling (1.18 in Debian 12 has no
    # prepared statements across server connections).
    if not DB_TRANSACTION_POOLING and env_bool("DB_SERVER_SIDE_BINDING", True):
        DATABASES["default"].setdefault("OPTIONS", {}).update(
            server_side_binding=True, prepare_threshold=env_int("DB_PREPARE_THRESHOLD", 5)
        )
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": env("SQLITE_PATH", str(BASE_DIR / "gateway-demo.sqlite3")),
            "OPTIONS": {"timeout": 20},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env("CACHE_KEY_PREFIX", "gw"),
            "OPTIONS": {
                "CLIENT_CLASS": "django_redis.client.DefaultClient",
                "SOCKET_CONNECT_TIMEOUT": 0.5,
                "SOCKET_TIMEOUT": 0.5,
                # A cache outage degrades to the database instead of failing the request.
                "IGNORE_EXCEPTIONS": True,
            },
        }
    }
    DJANGO_REDIS_IGNORE_EXCEPTIONS = True
    DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = True
    DJANGO_REDIS_LOGGER = "gateway.cache"
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "gateway"}}
CACHE_TTL_SECONDS = env_int("CACHE_TTL_SECONDS", 300)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

# Browser pages (hosted checkout, sandbox, admin) answer a CSRF failure with a plain page.
CSRF_FAILURE_VIEW = "checkout.views.common.csrf_failure"

# Request bodies are capped at 1 MiB; the gateway middleware answers 413 above it.
MAX_REQUEST_BODY_BYTES = 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_REQUEST_BODY_BYTES

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "merchants.authentication.ApiKeyAuthentication",
        "customers.authentication.CustomerTokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["gateway.permissions.IsSecretKey"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["gateway.parsers.GatewayJSONParser"],
    "EXCEPTION_HANDLER": "gateway.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "gateway.schema.GatewayAutoSchema",
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_THROTTLE_CLASSES": [],
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Payment Gateway API",
    "DESCRIPTION": "Self-hosted payment gateway: customers, orders, payments, refunds and webhooks.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "gateway.schema.links_postprocess",
    ],
    "ENUM_NAME_OVERRIDES": {
        "OrderStatusEnum": "orders.models.OrderStatus",
        "PaymentStatusEnum": "payments.models.PaymentStatus",
        # A checkout session's payment_status would otherwise take the name above (and the payments' place).
        "CheckoutSessionPaymentStatusEnum": "checkout.models.SessionPaymentStatus",
        "CaptureMethodEnum": "payments.models.CaptureMethod",
        "PaymentMethodTypeEnum": "payments.models.PaymentMethodType",
        "CardPaymentMethodTypeEnum": ["card"],
        "PaypalPaymentMethodTypeEnum": ["paypal"],
    },
}

# --- Gateway layer -----------------------------------------------------------------------
# Token bucket defaults; a merchant can override both in admin.
RATE_LIMIT_PER_SECOND = float(env("RATE_LIMIT_PER_SECOND", "25"))
RATE_LIMIT_BURST = env_int("RATE_LIMIT_BURST", 50)
RATE_LIMIT_ENABLED = env_bool("RATE_LIMIT_ENABLED", True)
IDEMPOTENCY_KEY_TTL_HOURS = env_int("IDEMPOTENCY_KEY_TTL_HOURS", 24)
# A request still holding its Idempotency-Key after this long is presumed dead (worker killed,
# connection lost): the next retry with the key takes it over and recovers. Longer than any
# request can run (gunicorn's timeout, the processors' connect + read timeouts).
IDEMPOTENCY_REQUEST_DEADLINE_SECONDS = env_int("IDEMPOTENCY_REQUEST_DEADLINE_SECONDS", 90)
API_KEY_CACHE_SECONDS = env_int("API_KEY_CACHE_SECONDS", 60)
# Cache hits of GET /v1/payments/{id} answered in one Redis round trip without DRF (gateway.fastread).
FAST_READS_ENABLED = env_bool("FAST_READS_ENABLED", True)
# Client IP comes from REMOTE_ADDR; X-Forwarded-For is read only when REMOTE_ADDR is one of these
# proxies (addresses or CIDR networks), and then only the hop the nearest trusted proxy saw.
TRUSTED_PROXIES = env_list("TRUSTED_PROXIES", "")
# Names the process that served a response (`Gateway-Instance` header): which instance behind the balancer.
GATEWAY_INSTANCE = env("GATEWAY_INSTANCE", socket.gethostname())

# --- Celery --------------------------------------------------------------------------------
CELERY_BROKER_URL = env("CELERY_BROKER_URL", REDIS_URL or "memory://")
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", EMBEDDED_MODE)
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_DEFAULT_QUEUE = env("CELERY_TASK_DEFAULT_QUEUE", "gateway")
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A message is redelivered if not acked within this window (Redis broker).
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600)}
CELERY_BEAT_SCHEDULE = {
    "idempotency-keys-purge": {"task": "gateway.tasks.idempotency_keys_purge", "schedule": 3600.0},
}

# --- Email (customer notifications) ---------------------------------------------------------
EMAIL_BACKEND = env(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend"
    if EMBEDDED_MODE
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = env("EMAIL_HOST", "127.0.0.1")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "payments@gateway.local")

# --- Logging: JSON lines, never request bodies ------------------------------------------------
LOG_LEVEL = env("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_context": {"()": "gateway.logging.RequestContextFilter"}},
    "formatters": {"json": {"()": "gateway.logging.JsonFormatter"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "json", "filters": ["request_context"]},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.request": {"level": "ERROR", "propagate": True},
        "django.server": {"level": "WARNING", "propagate": True},
    },
}

if EMBEDDED_MODE:
    logging.getLogger("gateway").warning(
        "Embedded mode: SQLite, local-memory cache and eager tasks. For trying the gateway out only; "
        "set DATABASE_URL and REDIS_URL for anything else."
    )

# --- Per-app settings: each app owns one module (and adds its periodic tasks to BEAT_SCHEDULE_<APP>) ---
from .app_audit import *  # noqa: E402,F403
from .app_checkout import *  # noqa: E402,F403
from .app_customers import *  # noqa: E402,F403
from .app_events import *  # noqa: E402,F403
from .app_ledger import *  # noqa: E402,F403
from .app_orders import *  # noqa: E402,F403
from .app_payments import *  # noqa: E402,F403
from .app_processors import *  # noqa: E402,F403
from .app_reconciliation import *  # noqa: E402,F403
from .app_sandbox import *  # noqa: E402,F403
from .app_vault import *  # noqa: E402,F403

for _name, _value in list(globals().items()):
    if _name.startswith("BEAT_SCHEDULE_"):
        CELERY_BEAT_SCHEDULE.update(_value)
