"""Tokenledger settings: everything comes from the environment, with defaults that work on a laptop."""

from __future__ import annotations

import os
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from dashboard import env

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = env.data_dir(default=BASE_DIR / "data")

DEBUG = env.env_bool("DEBUG", False)
SECRET_KEY = env.secret_key(DATA_DIR)
ALLOWED_HOSTS = env.env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.env_list("CSRF_TRUSTED_ORIGINS", [])

# Served over HTTPS (directly or behind a TLS-terminating proxy): secure cookies, HSTS, redirect to https.
# On by default in production (DEBUG off); `manage.py serve` turns it off for its plain-http local server.
HTTPS = env.env_bool("TOKENLEDGER_HTTPS", not DEBUG)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if HTTPS else None
SECURE_SSL_REDIRECT = HTTPS and env.env_bool("SECURE_SSL_REDIRECT", True)
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = env.env_int("SECURE_HSTS_SECONDS", 31536000 if HTTPS else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
SECURE_HSTS_PRELOAD = SECURE_HSTS_SECONDS > 0
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"

# Content-Security-Policy on every page (django-csp; the gateway under /api/v1/ and /metrics is not Django).
# Scripts, styles, fonts and fetches come from our own origin only: no inline script or style, no eval.
# JS reads its data from json_script blocks (not executed); Chart.js and playground.js set styles through
# CSSOM (element.style), which style-src does not govern. img-src also takes data: URLs (they run nothing).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_celery_beat",
    "axes",
    "catalog",
    "usage",
    "dashboard",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "servestatic.middleware.ServeStaticMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # last: answers a locked-out login (dashboard/login_throttle.py)
]

# Failed logins (django-axes): LOGIN_FAILURE_LIMIT failures for one username from one address lock that pair
# out for LOGIN_COOLOFF_MINUTES. X-Forwarded-For is believed only from TRUSTED_PROXIES (addresses or
# networks, e.g. the compose proxy's), never from anyone else.
AUTHENTICATION_BACKENDS = [
    "dashboard.login_throttle.LoginThrottleBackend",
    "django.contrib.auth.backends.ModelBackend",
]
TRUSTED_PROXIES = env.env_networks("TRUSTED_PROXIES")
AXES_FAILURE_LIMIT = env.env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env.env_int("LOGIN_COOLOFF_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "dashboard.login_throttle.client_ip"
AXES_LOCKOUT_CALLABLE = "dashboard.login_throttle.locked_out"
AXES_VERBOSE = False
AXES_DISABLE_ACCESS_LOG = True  # no row per successful login: only failures are counted

ROOT_URLCONF = "dashboard.urls"
WSGI_APPLICATION = "dashboard.wsgi.application"
ASGI_APPLICATION = "dashboard.asgi.application"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

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
                "dashboard.context_processors.navigation",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------------------------------------
_db = env.parse_database_url(env.env_str("DATABASE_URL") or f"sqlite:///{DATA_DIR / 'db.sqlite3'}")
if _db.engine == "sqlite":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": _db.name,
            "OPTIONS": {
                "timeout": 20,
                "transaction_mode": "IMMEDIATE",
                "init_command": (
                    "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000;"
                ),
            },
            # Tests use a file in WAL mode like the product: the in-memory shared-cache database answers
            # "table is locked" at once to concurrent writers, where a file waits out busy_timeout.
            # One file per test run, so test runs side by side don't share it.
            "TEST": {"NAME": str(DATA_DIR / f"test-{os.getpid()}.sqlite3")},
        }
    }
else:
    _options: dict = {k: v for k, v in (_db.options or {}).items() if k not in {"pool", "pool_max"}}
    if env.env_bool("DATABASE_POOL", True):
        _options["pool"] = {
            "min_size": 1,
            "max_size": env.env_int("DATABASE_POOL_MAX", 10, minimum=1),
            "timeout": 10,
        }
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": _db.name,
            "USER": _db.user,
            "PASSWORD": _db.password,
            "HOST": _db.host,
            "PORT": _db.port,
            "CONN_MAX_AGE": 0,
            "OPTIONS": _options,
        }
    }
DATABASE_IS_POSTGRES = _db.engine == "postgresql"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache --------------------------------------------------------------------------------------------------
REDIS_URL = env.env_str("REDIS_URL")
_broker = env.parse_broker_url(env.env_str("CELERY_BROKER_URL") or "filesystem://")
if _broker in ("filesystem://", "filesystem:///", "filesystem:////"):
    # The filesystem transport ignores the host, but kombu warns "No hostname was supplied" without one.
    _broker = "filesystem://localhost//"
if not REDIS_URL and _broker.startswith("redis"):
    REDIS_URL = _broker
if REDIS_URL:
    env.parse_broker_url(REDIS_URL, name="REDIS_URL")
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Celery -------------------------------------------------------------------------------------------------
CELERY_BROKER_URL = _broker
if _broker.startswith("filesystem://"):
    _queue = DATA_DIR / "broker"
    for _sub in ("in", "processed", "control"):
        (_queue / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue / "in"),
        "data_folder_out": str(_queue / "in"),
        "processed_folder": str(_queue / "processed"),
        "control_folder": str(_queue / "control"),  # else ./control in the worker's working directory
        "store_processed": False,
    }
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_TIMEOUT = 3
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = env.env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = "UTC"
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# Periodic jobs: a cron string or "disable"; each is also a management command.
CATALOG_SYNC_SCHEDULE = env.env_cron("CATALOG_SYNC_SCHEDULE", "17 * * * *")
ROLLUP_SCHEDULE = env.env_cron("ROLLUP_SCHEDULE", "*/5 * * * *")
RETENTION_SCHEDULE = env.env_cron("RETENTION_SCHEDULE", "40 3 * * *")
LEDGER_RETENTION_DAYS = env.env_int("LEDGER_RETENTION_DAYS", 0, minimum=0)  # 0 keeps raw rows for ever
UPSTREAM_PROBE_SCHEDULE = env.env_cron("UPSTREAM_PROBE_SCHEDULE", "*/5 * * * *")
UPSTREAM_PROBE_KEEP = env.env_int("UPSTREAM_PROBE_KEEP", 288, minimum=1)  # probes kept per upstream
UPSTREAM_PROBE_TIMEOUT_SECONDS = env.env_float("UPSTREAM_PROBE_TIMEOUT_SECONDS", 5.0, minimum=0.1)
RECONCILE_SCHEDULE = env.env_cron("RECONCILE_SCHEDULE", "* * * * *")
PROVIDER_ENDPOINTS_SCHEDULE = env.env_cron("PROVIDER_ENDPOINTS_SCHEDULE", "23 */6 * * *")
ALERTS_SCHEDULE = env.env_cron("ALERTS_SCHEDULE", "* * * * *")  # evaluate the alert rules, retry deliveries
CAPTURE_PRUNE_SCHEDULE = env.env_cron("CAPTURE_PRUNE_SCHEDULE", "50 3 * * *")

# --- Captured bodies of keys that opt in (docs/gateway.md, "Capture") ---------------------------------------
CAPTURE_MAX_BYTES = env.env_int("CAPTURE_MAX_BYTES", 256 * 1024, minimum=1024)  # the request's, the reply's
CAPTURE_RETENTION_DAYS = env.env_int("CAPTURE_RETENTION_DAYS", 30, minimum=1)

# --- Alerts (docs/alerts.md) and e-mail ---------------------------------------------------------------------
ALERT_TIMEOUT_SECONDS = env.env_float("ALERT_TIMEOUT_SECONDS", 5.0, minimum=0.1)  # per delivery attempt
ALERT_DELIVERY_ATTEMPTS = env.env_int("ALERT_DELIVERY_ATTEMPTS", 5, minimum=1)
ALERT_RETRY_SECONDS = env.env_int("ALERT_RETRY_SECONDS", 60, minimum=1)  # doubled after each failure
EMAIL_BACKEND = env.env_str("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env.env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env.env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env.env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env.env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env.env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env.env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = env.env_int("EMAIL_TIMEOUT", 10, minimum=1)
DEFAULT_FROM_EMAIL = env.env_str("DEFAULT_FROM_EMAIL", "tokenledger@localhost")

# --- OpenRouter and the gateway -----------------------------------------------------------------------------
OPENROUTER_API_KEY = env.env_str("OPENROUTER_API_KEY")
OPENROUTER_BASE_URL = env.env_str("OPENROUTER_BASE_URL", "https://openrouter.ai/api/v1").rstrip("/")
if not OPENROUTER_BASE_URL.startswith(("http://", "https://")):
    raise env.ConfigError(f"OPENROUTER_BASE_URL must be an http(s) URL; got {OPENROUTER_BASE_URL!r}")
OPENROUTER_REFERER = env.env_str("OPENROUTER_REFERER", "https://github.com/tokenledger/tokenledger")
OPENROUTER_TITLE = env.env_str("OPENROUTER_TITLE", "Tokenledger")
OPENROUTER_TIMEOUT_SECONDS = env.env_float("OPENROUTER_TIMEOUT_SECONDS", 600.0, minimum=1.0)
CATALOG_FETCH_ATTEMPTS = env.env_int("CATALOG_FETCH_ATTEMPTS", 3, minimum=1)
CATALOG_FETCH_BACKOFF_SECONDS = env.env_float("CATALOG_FETCH_BACKOFF_SECONDS", 1.0)
CATALOG_FETCH_TIMEOUT_SECONDS = env.env_float("CATALOG_FETCH_TIMEOUT_SECONDS", 30.0, minimum=1.0)
# A sync that would break these is held, nothing applied (docs/catalogue-sync.md, "Held syncs").
CATALOG_SYNC_MAX_RETIRED_PERCENT = env.env_decimal("CATALOG_SYNC_MAX_RETIRED_PERCENT", "50")
CATALOG_SYNC_MAX_TOKEN_PRICE = env.env_decimal("CATALOG_SYNC_MAX_TOKEN_PRICE", "0.01")  # USD per token
CATALOG_SYNC_MAX_UNIT_PRICE = env.env_decimal("CATALOG_SYNC_MAX_UNIT_PRICE", "100")  # USD per image...
CATALOG_SYNC_RAISE_FACTOR = env.env_decimal("CATALOG_SYNC_RAISE_FACTOR", "10", minimum=Decimal(1))
CATALOG_SYNC_MAX_RAISED_PERCENT = env.env_decimal("CATALOG_SYNC_MAX_RAISED_PERCENT", "20")
GATEWAY_MAX_BODY_BYTES = env.env_int("GATEWAY_MAX_BODY_BYTES", 10 * 1024 * 1024, minimum=1024)
GATEWAY_BODY_IDLE_SECONDS = env.env_float("GATEWAY_BODY_IDLE_SECONDS", 30.0, minimum=0.1)
GATEWAY_BODY_TIMEOUT_SECONDS = env.env_float("GATEWAY_BODY_TIMEOUT_SECONDS", 120.0, minimum=0.1)
GATEWAY_KEY_CACHE_SECONDS = env.env_float("GATEWAY_KEY_CACHE_SECONDS", 5.0)
GATEWAY_CATALOG_REFRESH_SECONDS = env.env_float("GATEWAY_CATALOG_REFRESH_SECONDS", 30.0)
# How long GET /models?order=usage keeps a key's most-used models before reading the rollups again.
GATEWAY_USAGE_ORDER_SECONDS = env.env_float("GATEWAY_USAGE_ORDER_SECONDS", 60.0, minimum=0.0)
# Usage an upstream reports beyond these is set aside, not stored or spent (usage/usage_values.py).
GATEWAY_MAX_REQUEST_COST = env.env_decimal("GATEWAY_MAX_REQUEST_COST", "1000")  # USD for one request
GATEWAY_MAX_CONTEXT_MULTIPLE = env.env_int("GATEWAY_MAX_CONTEXT_MULTIPLE", 4, minimum=1)  # × the context
# How long a request's budget reservation holds if it never settles (its worker died): its own deadline.
GATEWAY_RESERVATION_SECONDS = env.env_int("GATEWAY_RESERVATION_SECONDS", 900, minimum=60)
# The gateway's keys in Redis start with it: several deployments (or test runs) can share one Redis.
GATEWAY_REDIS_PREFIX = env.env_str("GATEWAY_REDIS_PREFIX", "tl:gw:")
# Estimated costs (cancelled or broken requests) are reconciled from OpenRouter's GET /generation: this many
# tries, spread over this many seconds after the request, before the estimate stands (docs/gateway.md).
LEDGER_RECONCILE_TRIES = env.env_int("LEDGER_RECONCILE_TRIES", 10, minimum=1)
LEDGER_RECONCILE_SECONDS = env.env_int("LEDGER_RECONCILE_SECONDS", 900, minimum=0)
# Attempts per request across an alias's members / upstreams on 429, 5xx or a timeout before the first byte.
GATEWAY_MAX_ATTEMPTS = env.env_int("GATEWAY_MAX_ATTEMPTS", 3, minimum=1)
GATEWAY_CACHE_TTL_SECONDS = env.env_int("GATEWAY_CACHE_TTL_SECONDS", 3600, minimum=1)
# Bearer token for GET /metrics (Prometheus); empty: /metrics answers 404.
METRICS_TOKEN = env.env_str("METRICS_TOKEN")

# --- Static files, i18n, logging ----------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
SERVESTATIC_USE_FINDERS = True
SERVESTATIC_AUTOREFRESH = DEBUG

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.env_str("LOG_LEVEL", "INFO").upper()},
    "loggers": {"django.db.backends": {"level": "WARNING"}, "axes": {"level": "WARNING"}},
}
