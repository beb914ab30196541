"""Settings for the clinic photo records app.

Everything is read from the environment once, here. With nothing set the app runs on its embedded
default (SQLite and encrypted blobs under ``var/``, Celery eager, e-mail to the console). Setting
``DJANGO_PRODUCTION=1`` turns on the production checks: the app then refuses to start without its
secrets.
"""

from __future__ import annotations

import ipaddress
from datetime import timedelta
from pathlib import Path
from typing import Any

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# The embedded default's files (SQLite database, encrypted blobs); tests point it elsewhere.
VAR_DIR = Path(env.str("DJANGO_VAR_DIR", default=str(BASE_DIR / "var")))


def env_secret(name: str, default: str = "") -> str:
    """A secret from ``NAME`` or from the file named by ``NAME_FILE`` (docker secrets)."""
    path = env.str(f"{name}_FILE", default="")
    if path:
        return Path(path).read_text().strip()
    return env.str(name, default=default)


PRODUCTION = env.bool("DJANGO_PRODUCTION", default=False)
DEBUG = env.bool("DJANGO_DEBUG", default=not PRODUCTION)
if PRODUCTION and DEBUG:
    raise ImproperlyConfigured("DJANGO_DEBUG must be off when DJANGO_PRODUCTION=1.")


def _required_in_production(name: str, dev_default: str) -> str:
    value = env_secret(name)
    if value:
        return value
    if PRODUCTION:
        raise ImproperlyConfigured(
            f"{name} is not set. In production it must come from the environment "
            f"(or from a file named by {name}_FILE)."
        )
    return dev_default


SECRET_KEY = _required_in_production(
    "DJANGO_SECRET_KEY", "dev-only-insecure-key-never-use-in-production-0123456789abcdef"
)
# The master key wraps every clinic key (base64 of 32 bytes). The dev default is deliberately
# fixed so a developer's var/ stays readable between runs; production has no default.
MASTER_KEY = _required_in_production("MASTER_KEY", "ZGV2LW9ubHktbWFzdGVyLWtleS1ub3Qtc2VjcmV0ISE=")
# Earlier master keys, still able to unwrap until `manage.py rotate_keys` has re-wrapped.
MASTER_KEYS_PREVIOUS = [k for k in env.list("MASTER_KEYS_PREVIOUS", default=[]) if k]
# With a KMS key id, clinic keys are wrapped by AWS KMS instead of the master key.
KMS_KEY_ID = env.str("KMS_KEY_ID", default="")
KMS_ENDPOINT_URL = env.str("KMS_ENDPOINT_URL", default="") or None
AWS_REGION = env.str("AWS_REGION", default="eu-west-2")


def _check_master_key(value: str, name: str) -> None:
    import base64
    import binascii

    try:
        ok = len(base64.b64decode(value, validate=True)) == 32
    except (binascii.Error, ValueError):
        ok = False
    if not ok:
        raise ImproperlyConfigured(f"{name} must be 32 random bytes in base64 (44 characters).")


# Signs the audit checkpoints kept in the object store (audit/checkpoints.py). It must live
# apart from the database and from MASTER_KEY, so that someone who can rewrite the trail
# cannot re-sign its checkpoints. The dev default is fixed and public, like MASTER_KEY's.
AUDIT_CHECKPOINT_KEY = _required_in_production(
    "AUDIT_CHECKPOINT_KEY", "dev-only-audit-checkpoint-key-not-secret-0123456789"
)
if len(AUDIT_CHECKPOINT_KEY) < 32:
    raise ImproperlyConfigured("AUDIT_CHECKPOINT_KEY must be at least 32 random characters.")
if AUDIT_CHECKPOINT_KEY in (MASTER_KEY, SECRET_KEY):
    raise ImproperlyConfigured(
        "AUDIT_CHECKPOINT_KEY must be a key of its own, not MASTER_KEY or DJANGO_SECRET_KEY."
    )

if not KMS_KEY_ID:
    _check_master_key(MASTER_KEY, "MASTER_KEY")
for _previous in MASTER_KEYS_PREVIOUS:
    _check_master_key(_previous, "MASTER_KEYS_PREVIOUS")

ALLOWED_HOSTS = env.list(
    "DJANGO_ALLOWED_HOSTS", default=[] if PRODUCTION else ["127.0.0.1", "localhost", "testserver"]
)
if PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("DJANGO_ALLOWED_HOSTS must list the host names the app serves.")
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "axes",
    "csp",
    "clinic",
    "audit",
    "accounts",
    "vault",
    "patients",
    "links",
    "photos",
    "consent",
    "exports",
    "comparisons",
    "retention",
    "backups",
    "demo",
    "config.apps.ShellConfig",
]

MIDDLEWARE = [
    # First: /healthz answers whatever the Host header and without the HTTPS redirect.
    "config.health.HealthCheckMiddleware",
    # /metrics likewise, to the operator's network only (config/operators.py).
    "config.metrics.MetricsMiddleware",
    # Before anything reads REMOTE_ADDR: the client's address behind PROXY_COUNT proxies.
    "clinic.proxy.ClientAddressMiddleware",
    "clinic.middleware.RequestIdMiddleware",
    # The request id on every log line, one line per request, its latency in /metrics.
    "config.observe.ObserveRequestMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "clinic.middleware.RefuseBadInputMiddleware",
    # A thumbnail the page already granted, answered from memory before sessions are read
    # (photos/thumbnails.py says when, and when not).
    "photos.thumbnails.GrantedThumbnailMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    # request.audit: who asks and from where, for the services to record (audit/context.py).
    "audit.middleware.AuditContextMiddleware",
    "accounts.middleware.SessionLifetimeMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",
    "accounts.middleware.ClinicMiddleware",
    # A wrong or missing master key: a 503 page for the operator's error, never a 404 that
    # would put an access.denied event against the person asking (vault/middleware.py).
    "vault.middleware.MasterKeyProblemMiddleware",
]

if PRODUCTION:
    # Static files straight from the app process (collectstatic at image build); in
    # development runserver serves them.
    MIDDLEWARE.insert(
        MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1,
        "whitenoise.middleware.WhiteNoiseMiddleware",
    )

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
AUTH_USER_MODEL = "clinic.User"

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
                "accounts.context_processors.clinic",
            ],
        },
    },
]

# --- database ------------------------------------------------------------------------------
# DATABASE_URL is the application's connection. On PostgreSQL it must be a role that is neither
# superuser nor BYPASSRLS, or row-level security is silently skipped. Migrations run as the
# owner role (same variable, pointed at the owner) and grant the app role DATABASE_APP_ROLE.
if not env.str("DATABASE_URL", default=""):
    # The embedded default's SQLite file lives in var/, and SQLite does not create directories.
    VAR_DIR.mkdir(exist_ok=True)
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
# On PostgreSQL a web or worker process keeps its connection for a minute instead of opening
# one per request (a new backend costs PostgreSQL a fork and the app a round trip or three).
# Reuse is safe for row-level security: the clinic is a transaction-local setting
# (clinic/tenancy.py), gone at every commit or rollback, so a reused connection carries none.
_POSTGRES = DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
DATABASES["default"]["CONN_MAX_AGE"] = env.int(
    "DATABASE_CONN_MAX_AGE", default=60 if _POSTGRES else 0
)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# SQLite serves a threaded server only when configured for it: WAL lets readers run beside the
# one writer; IMMEDIATE transactions take the write lock at BEGIN, so a transaction that read
# first never has to upgrade (SQLite answers that "database is locked" at once, without
# waiting); the busy timeout makes the next writer wait its turn. Every request under a clinic
# runs in one transaction, so this also serialises the audit chain's read-then-append.
SQLITE_OPTIONS = {
    "transaction_mode": "IMMEDIATE",
    "timeout": 20,
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON",
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {**SQLITE_OPTIONS, **DATABASES["default"].get("OPTIONS", {})}
DATABASE_APP_ROLE = env.str("DATABASE_APP_ROLE", default="")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- redis, celery, cache ------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
# How long the beat's lock in Redis outlives its last renewal (config/beat.py): a second beat
# standing by takes over this long after the first has gone.
BEAT_LOCK_SECONDS = env.int("BEAT_LOCK_SECONDS", default=60)
CELERY_BROKER_URL = REDIS_URL or "memory://localhost/"
CELERY_RESULT_BACKEND = REDIS_URL or None
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
# How long a delivered but unacknowledged task (its worker died) waits before redelivery.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600)
}
CELERY_BEAT_SCHEDULE = {
    # Jobs of the outbox (clinic/outbox.py) whose message was lost are sent again.
    "resend-outbox-jobs": {
        "task": "clinic.tasks.sweep_outbox",
        "schedule": timedelta(seconds=env.int("OUTBOX_SWEEP_SECONDS", default=60)),
    },
    "prune-done-outbox-jobs-daily": {
        "task": "clinic.tasks.prune_outbox",
        "schedule": timedelta(hours=24),
    },
    "sweep-orphan-objects": {
        "task": "vault.tasks.sweep_orphan_objects",
        "schedule": timedelta(hours=1),
    },
    "expire-exports": {
        "task": "exports.tasks.expire_exports",
        "schedule": timedelta(hours=1),
    },
    # Records past the clinic's retention period are listed and the admins told (never erased).
    "list-records-due-for-erasure-daily": {
        "task": "retention.tasks.list_due_for_erasure",
        "schedule": timedelta(hours=24),
    },
    "verify-audit-chains-nightly": {
        "task": "audit.tasks.verify_all_chains",
        "schedule": timedelta(hours=24),
    },
    # Signed heads of every audit chain, kept in the object store (audit/checkpoints.py).
    # Every few minutes, so that the events not yet covered by a checkpoint (the blind spot:
    # deletable unnoticed) are minutes old at most; a chain with nothing new gets no object.
    "write-audit-checkpoints": {
        "task": "audit.tasks.write_all_checkpoints",
        "schedule": timedelta(minutes=env.int("AUDIT_CHECKPOINT_MINUTES", default=15)),
    },
    # A backup set (database, every object, the manifest) and the pruning of old sets; a
    # failure or a set older than BACKUP_MISSING_HOURS e-mails the admins (backups/tasks.py).
    "backup-daily": {
        "task": "backups.tasks.backup_scheduled",
        "schedule": timedelta(hours=env.int("BACKUP_EVERY_HOURS", default=24)),
    },
    "backup-verify-weekly": {
        "task": "backups.tasks.backup_verify_scheduled",
        "schedule": timedelta(days=7),
    },
    "backup-watch-hourly": {
        "task": "backups.tasks.backup_watch",
        "schedule": timedelta(hours=1),
    },
}

# How long the clinic's database backups are kept. A backup holds the wrapped data keys of
# records erased after it was taken, so an erasure is complete only once every backup made
# before it has been deleted: the erasure page gives that date.
BACKUP_RETENTION_DAYS = env.int("BACKUP_RETENTION_DAYS", default=35)
# Where backup sets go (backups/, docs/operations.md "Backups"): a folder (not on the primary's
# disk), or an S3 bucket as ``s3://bucket/prefix`` (BACKUP_S3_ENDPOINT_URL for another endpoint
# than AWS) or restic's own spelling (``s3:https://host/bucket``). Empty: no backups are taken.
BACKUP_TARGET = env.str("BACKUP_TARGET", default="")
BACKUP_S3_ENDPOINT_URL = env.str("BACKUP_S3_ENDPOINT_URL", default="")
BACKUP_S3_ACCESS_KEY_ID = env_secret("BACKUP_S3_ACCESS_KEY_ID")
BACKUP_S3_SECRET_ACCESS_KEY = env_secret("BACKUP_S3_SECRET_ACCESS_KEY")
# The backup key: the password of the backup repository (restic encrypts and authenticates
# every set under it). Never the master key, never kept beside the backups; read when a backup
# or restore runs (backups/keys.py), so that a missing one is named there.
BACKUP_KEY = env.str("BACKUP_KEY", default="")
BACKUP_KEY_FILE = env.str("BACKUP_KEY_FILE", default="")
if BACKUP_KEY and BACKUP_KEY in (MASTER_KEY, SECRET_KEY, AUDIT_CHECKPOINT_KEY):
    raise ImproperlyConfigured(
        "BACKUP_KEY must be a key of its own, not MASTER_KEY, DJANGO_SECRET_KEY or "
        "AUDIT_CHECKPOINT_KEY."
    )
# The database connection pg_dump and pg_restore use: a role that row-level security does not
# bind (the cluster's superuser, or one with BYPASSRLS), since the app role sees one clinic at
# a time and the owner is bound by FORCE ROW LEVEL SECURITY. Empty: DATABASE_URL's.
BACKUP_DATABASE_URL = env.str("BACKUP_DATABASE_URL", default="")
# The bucket's objects are mirrored here before each set (only new ones are fetched), so that
# restic sees unchanged files as unchanged; it needs the bucket's size in free disk.
BACKUP_STAGING_DIR = Path(env.str("BACKUP_STAGING_DIR", default=str(VAR_DIR / "backup-staging")))
# A backup older than this (hours) counts as missing: the admins are told.
BACKUP_MISSING_HOURS = env.int("BACKUP_MISSING_HOURS", default=36)

# Granted thumbnails answered from memory (photos/thumbnails.py) need revocation marks every
# process sees: on by default with Redis, and in development's single process; off for a
# production stack without Redis (each process's own cache would miss another's sign-outs).
THUMBNAILS_FROM_MEMORY = env.bool(
    "THUMBNAILS_FROM_MEMORY", default=bool(REDIS_URL) or not PRODUCTION
)

# A pending outbox job untouched this long is sent to the broker again by the beat sweep.
OUTBOX_GRACE = timedelta(seconds=env.int("OUTBOX_GRACE_SECONDS", default=120))
# Done outbox jobs are deleted this many days after they were done (the daily prune); a late
# duplicate of a deleted job finds nothing to claim and does nothing.
OUTBOX_KEEP_DONE_DAYS = env.int("OUTBOX_KEEP_DONE_DAYS", default=30)
# A failed job is retried after this many seconds, doubling up to ten minutes.
OUTBOX_RETRY_SECONDS = env.int("OUTBOX_RETRY_SECONDS", default=5)
# A photo is decoded in a child process with at most this much address space and time; after
# PHOTO_DECODE_ATTEMPTS decodes over the limit it is marked failed.
PHOTO_DECODE_MEMORY_MB = env.int("PHOTO_DECODE_MEMORY_MB", default=384)
PHOTO_DECODE_TIMEOUT = env.int("PHOTO_DECODE_TIMEOUT", default=120)
PHOTO_DECODE_ATTEMPTS = 3
# Objects in blob storage with no Blob row (a rolled-back upload) are deleted once this old.
ORPHAN_OBJECT_AGE = timedelta(hours=1)

if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- blob storage (encrypted before it gets here) --------------------------------------------
S3_BUCKET = env.str("S3_BUCKET", default="")
if S3_BUCKET:
    BLOB_STORAGE = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": S3_BUCKET,
            "endpoint_url": env.str("S3_ENDPOINT_URL", default="") or None,
            "region_name": env.str("S3_REGION", default="eu-west-2"),
            "access_key": env_secret("S3_ACCESS_KEY_ID"),
            "secret_key": env_secret("S3_SECRET_ACCESS_KEY"),
            "default_acl": "private",
            "file_overwrite": False,
            "querystring_auth": False,
            "object_parameters": {"ContentType": "application/octet-stream"},
        },
    }
else:
    BLOB_STORAGE = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {
            "location": str(VAR_DIR / "blobs"),
            "base_url": None,
            "file_permissions_mode": 0o600,
            "directory_permissions_mode": 0o700,
        },
    }

# Annotated: the storages' options differ in shape, which a type checker would read as object.
STORAGES: dict[str, dict[str, Any]] = {
    "default": BLOB_STORAGE,
    "blobs": BLOB_STORAGE,
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]

# --- e-mail ----------------------------------------------------------------------------------
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
globals().update(EMAIL_CONFIG)
# Or SMTP in parts, as compose's .env gives them; EMAIL_HOST set means SMTP, whatever
# EMAIL_URL says. The password comes from the file named by EMAIL_HOST_PASSWORD_FILE (a docker
# secret) or EMAIL_HOST_PASSWORD, never from a URL in the environment.
if env.str("EMAIL_HOST", default=""):
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST = env.str("EMAIL_HOST")
    EMAIL_PORT = env.int("EMAIL_PORT", default=587)
    # Port 465 speaks TLS from the first byte; any other port is asked for STARTTLS unless
    # EMAIL_USE_TLS=0 (a relay on the clinic's own network, Mailpit in development).
    EMAIL_USE_SSL = env.bool("EMAIL_USE_SSL", default=EMAIL_PORT == 465)
    EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=not EMAIL_USE_SSL)
    if EMAIL_USE_SSL and EMAIL_USE_TLS:
        raise ImproperlyConfigured("Set one of EMAIL_USE_TLS (STARTTLS) and EMAIL_USE_SSL.")
    EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
    EMAIL_HOST_PASSWORD = env_secret("EMAIL_HOST_PASSWORD")
# A mail server that stops answering must not hold a worker for ever (Django waits without end).
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=30)
# The address every e-mail leaves from; a clinic's e-mails carry the clinic's name with it and
# the clinic's reply-to address (clinic/mail.py). The mail server must accept it as sender.
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Clinic Photos <no-reply@localhost>")

# --- authentication: e-mail + password, then TOTP, lockout by axes ---------------------------
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"

AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False
# Our login view calls authenticate(username=<e-mail>): axes must read that key, not "email".
AXES_USERNAME_FORM_FIELD = "username"
# Reverse proxies in front of the app (docker-compose: Caddy, so 1). The client's address is
# then taken from X-Forwarded-For (clinic/proxy.py), and axes counts failures by that address
# too: without django-ipware installed, axes ignores its own AXES_IPWARE_* settings.
PROXY_COUNT = env.int("PROXY_COUNT", default=0)
AXES_CLIENT_IP_CALLABLE = "clinic.proxy.client_ip"

OTP_TOTP_ISSUER = env.str("OTP_ISSUER", default="Clinic Photos")
OTP_TOTP_THROTTLE_FACTOR = 1
BACKUP_CODE_COUNT = 10

# Idle timeout: the session lives 30 minutes from its last renewal, which activity makes at
# most once a minute (SessionLifetimeMiddleware), so it ends 29 to 30 minutes after the last
# request. The absolute limit is enforced there too, from the login time kept in the session.
SESSION_COOKIE_AGE = 30 * 60
SESSION_RENEW_EVERY = timedelta(minutes=1)
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_ABSOLUTE_LIFETIME = timedelta(hours=12)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True

# Django refuses bodies with more files than this outright; the upload view has its own, lower
# limit (100 photos) so that it can say so clearly.
DATA_UPLOAD_MAX_NUMBER_FILES = 1000
# Uploads stay in memory (bounded), never in a plaintext temporary file.
FILE_UPLOAD_HANDLERS = ["photos.uploads.BoundedMemoryUploadHandler"]

INVITATION_LIFETIME = timedelta(days=env.int("INVITATION_DAYS", default=7))
CONSENT_LINK_LIFETIME = timedelta(days=env.int("CONSENT_LINK_DAYS", default=7))
# An export can be downloaded this long after it is built; then its object is deleted.
EXPORT_LIFETIME = timedelta(days=env.int("EXPORT_DAYS", default=7))
# A trusted timestamp (RFC 3161) on every export's manifest, from this time-stamping authority
# (empty: none, and the bundle says so). EXPORT_TSA_CA_FILE: the authority's CA certificate(s)
# as PEM, to check its replies and to put in the bundle for the recipient's `openssl ts -verify`.
EXPORT_TSA_URL = env.str("EXPORT_TSA_URL", default="")
EXPORT_TSA_CA_FILE = env.str("EXPORT_TSA_CA_FILE", default="")
EXPORT_TSA_TIMEOUT = env.int("EXPORT_TSA_TIMEOUT", default=15)
COMPARISON_LINK_LIFETIME = timedelta(days=env.int("COMPARISON_LINK_DAYS", default=30))

# --- security headers ------------------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if PRODUCTION:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "blob:", "data:"],
        "media-src": ["'self'", "blob:"],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}

LANGUAGE_CODE = "en-gb"
TIME_ZONE = env.str("TIME_ZONE", default="Europe/London")
USE_I18N = True
USE_TZ = True

# --- what operators watch (docs/operations.md: "Watching it run") ---------------------------
# One JSON object per line (time, level, logger, message, request_id, task_id, ...) for a log
# collector, or the plain messages `make run` has always printed.
LOG_FORMAT = env.str("LOG_FORMAT", default="json" if PRODUCTION else "text")
if LOG_FORMAT not in ("json", "text"):
    raise ImproperlyConfigured("LOG_FORMAT must be json or text.")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "redact_tokens": {"()": "config.logging.RedactTokensFilter"},
        "context": {"()": "config.logging.ContextFilter"},
    },
    "formatters": {
        "json": {"()": "config.logging.JsonFormatter"},
        # The message alone, as the console has always shown it under `make run`.
        "text": {"format": "%(message)s"},
    },
    # gunicorn's loggers use this handler too (deploy/gunicorn.conf.py).
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["redact_tokens", "context"],
            "formatter": LOG_FORMAT,
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # Django's own console handler (on under DEBUG) would print its lines a second time,
        # and not in LOG_FORMAT: they go to the root's handler only.
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        "django.server": {"level": "WARNING", "propagate": True},
        # One line per request (config/observe.py) for the JSON log; the text console stays as
        # quiet as before (gunicorn's access log has the lines there).
        "clinicphotos.access": {"level": "INFO" if LOG_FORMAT == "json" else "WARNING"},
        # WeasyPrint and fontTools narrate every PDF at INFO; only their problems matter.
        "weasyprint": {"level": "WARNING"},
        "fontTools": {"level": "WARNING"},
        # In-process (eager) tasks would log each run into the web server's output.
        "celery.app.trace": {"level": "WARNING" if CELERY_TASK_ALWAYS_EAGER else "INFO"},
    },
}

# /metrics and /healthz?full=1 answer only a caller connected from these networks (CIDRs),
# and only with METRICS_TOKEN as a bearer token when one is set; anyone else gets a 404. The
# default: this machine, and the private range Docker gives compose networks (172.16.0.0/12),
# where Prometheus scrapes web:8000 directly.
METRICS_ALLOWED_NETWORKS = env.list("METRICS_ALLOWED_NETWORKS", default=[]) or [
    "127.0.0.0/8",
    "::1/128",
    "172.16.0.0/12",
]
for _network in METRICS_ALLOWED_NETWORKS:
    try:
        ipaddress.ip_network(_network, strict=False)
    except ValueError:
        raise ImproperlyConfigured(
            f"METRICS_ALLOWED_NETWORKS: {_network!r} is not a network (e.g. 10.0.0.0/8)."
        ) from None
METRICS_TOKEN = env_secret("METRICS_TOKEN")
# prometheus_client reads it too: where gunicorn's processes add up their request latencies
# (deploy/gunicorn.conf.py sets it); empty for one process (runserver, tests).
PROMETHEUS_MULTIPROC_DIR = env.str("PROMETHEUS_MULTIPROC_DIR", default="")

# Error reports to Sentry, only when a DSN is given; nothing personal leaves (config/sentry.py).
SENTRY_DSN = env_secret("SENTRY_DSN")
SENTRY_ENVIRONMENT = env.str(
    "SENTRY_ENVIRONMENT", default="production" if PRODUCTION else "development"
)
if SENTRY_DSN:
    from config.sentry import init_sentry

    init_sentry(SENTRY_DSN, environment=SENTRY_ENVIRONMENT)
