# The app image: web, worker, beat and the init steps all run from it (stateless; scale each
# independently). What it installs is requirements.lock, pinned by hash: what was tested.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
# WeasyPrint needs Pango; fonts for the PDFs. Backups: restic, and pg_dump / pg_restore of
# the same major version as compose's PostgreSQL (15).
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 \
    libharfbuzz-subset0 fonts-dejavu-core restic postgresql-client-15 \
 && rm -rf /var/lib/apt/lists/*
RUN useradd --create-home --uid 10001 clinic
WORKDIR /app
# Dependencies in their own layer, before the code: a code change does not reinstall them.
COPY requirements.lock ./
RUN pip install --require-hashes --no-deps -r requirements.lock
# The code belongs to root and is read-only to the app's user.
COPY . .
# collectstatic runs with production settings (hashed file names) and throw-away values; the
# real secrets arrive only at run time, from the environment. DATABASE_URL is set so that the
# settings do not make var/ (the embedded default's SQLite directory) as root in the image.
RUN DJANGO_PRODUCTION=1 DJANGO_SECRET_KEY=build-only-not-a-secret DJANGO_ALLOWED_HOSTS=build \
    MASTER_KEY=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= DATABASE_URL=sqlite://:memory: \
    AUDIT_CHECKPOINT_KEY=build-only-not-a-secret-0123456789abcdef \
    python manage.py collectstatic --noinput -v 0 \
 && test ! -e var
USER clinic
EXPOSE 8000
CMD ["gunicorn", "config.wsgi:application", "--config", "deploy/gunicorn.conf.py"]
