# The app image: web, worker and beat all run from it (stateless; scale each independently).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
# WeasyPrint needs Pango; fonts for the PDFs.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 \
    libharfbuzz-subset0 fonts-dejavu-core \
 && rm -rf /var/lib/apt/lists/*
RUN useradd --create-home --uid 10001 clinic
WORKDIR /app
COPY pyproject.toml ./
COPY . .
RUN pip install .
# collectstatic runs with production settings (hashed file names) and throw-away values; the
# real secrets arrive only at run time, from the environment.
RUN DJANGO_PRODUCTION=1 DJANGO_SECRET_KEY=build-only-not-a-secret DJANGO_ALLOWED_HOSTS=build \
    MASTER_KEY=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= python manage.py collectstatic --noinput
USER clinic
EXPOSE 8000
CMD ["gunicorn", "clinic.wsgi:application", "--config", "deploy/gunicorn.conf.py"]
