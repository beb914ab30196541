# Quick start: `make run` (the app on http://127.0.0.1:8000, demo seeded) and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
# Quiet pip (errors only; no progress, no "new release" notice). Installs only what the lock
# files pin, by hash, and as a lock: --no-deps, so that pip never resolves a dependency's own
# requirement (weasyprint's `fonttools[woff]>=4.59.2`) against what the registry publishes
# today; `pip check` then proves the lock complete and consistent.
PIP := $(PY) -m pip --disable-pip-version-check --no-input -qq
LOCK_FLAGS := --generate-hashes --python-version 3.11 --python-platform x86_64-manylinux_2_28 \
	--custom-compile-command "make lock" -q
APT_PACKAGES := chromium poppler-utils docker-compose wrk fonts-dejavu-core caddy restic
# The tests run against the real stack. PostgreSQL: migrations as the owner role, the app as
# a role that is neither superuser nor BYPASSRLS (both created by the test setup).
TEST_ENV := DATABASE_URL=postgres://clinic_app@127.0.0.1:5432/clinicphotos_test \
	DATABASE_APP_ROLE=clinic_app \
	REDIS_URL=redis://127.0.0.1:6379/14 \
	CELERY_TASK_ALWAYS_EAGER=1 \
	EMAIL_URL=memorymail:// \
	SITE_URL=http://testserver

.PHONY: install system-deps services run test bench load lint format check-deploy clean lock

# The Python side only: `make run` needs no Node. Re-runs when a lock file changes.
install: $(VENV)/.installed

$(VENV)/.installed: requirements-dev.lock pyproject.toml
	@test -x $(PY) || { echo "Creating $(VENV) and installing the locked dependencies..."; \
	  $(PYTHON) -m venv $(VENV); }
	@$(PIP) install --require-hashes --no-deps -r requirements-dev.lock
	@$(PIP) install --no-deps --no-build-isolation -e .
	@$(PY) -m pip check --disable-pip-version-check || { echo "The lock files do not hold \
	  everything pyproject.toml asks for: run \`make lock\` and commit both lock files."; exit 1; }
	@touch $@

# After editing pyproject.toml: `make lock` (keeps the other pins); `make lock LOCK_ARGS=--upgrade`
# moves every dependency to its newest allowed version. Commit both files.
# It needs only uv (from the dev lock), not a complete install: after a dependency is added to
# pyproject.toml the install's pip check fails until the locks are made again.
lock:
	@test -x $(VENV)/bin/uv || { test -x $(PY) || $(PYTHON) -m venv $(VENV); \
	  $(PIP) install --require-hashes --no-deps -r requirements-dev.lock; }
	$(VENV)/bin/uv pip compile pyproject.toml $(LOCK_FLAGS) $(LOCK_ARGS) -o requirements.lock
	$(VENV)/bin/uv pip compile pyproject.toml --extra dev $(LOCK_FLAGS) $(LOCK_ARGS) \
	  -o requirements-dev.lock

# Test-only JavaScript (axe-core for the browser tests).
node_modules/.installed: package.json package-lock.json
	@npm ci --no-audit --no-fund --silent
	@touch $@

# Debian packages the tests need (root installs them when missing; CI is root).
system-deps:
	@missing=""; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v caddy >/dev/null || missing="$$missing caddy"; \
	command -v pdftotext >/dev/null || missing="$$missing poppler-utils"; \
	command -v docker-compose >/dev/null || missing="$$missing docker-compose"; \
	command -v wrk >/dev/null || missing="$$missing wrk"; \
	command -v restic >/dev/null || missing="$$missing restic"; \
	[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing="$$missing fonts-dejavu-core"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	  else echo "Missing Debian packages:$$missing (install them as root)"; exit 1; fi; \
	fi

# PostgreSQL and Redis as this machine provides them; started if installed but stopped.
services:
	@pg_isready -q -h 127.0.0.1 -p 5432 || { \
	  pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql | sort -n | tail -1) main start; \
	  for i in $$(seq 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done; }
	@redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 || { \
	  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no; \
	  for i in $$(seq 30); do redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && break; sleep 0.5; done; }

run: install
	@$(PY) manage.py migrate --noinput -v 0
	@$(PY) manage.py seed_demo
	@echo; echo "Open http://127.0.0.1:8000 and sign in as above. Ctrl-C stops the app."
	@$(PY) manage.py runserver 127.0.0.1:8000

test: install node_modules/.installed system-deps services
	$(TEST_ENV) $(VENV)/bin/ruff check .
	$(TEST_ENV) $(VENV)/bin/mypy
	$(TEST_ENV) $(VENV)/bin/pytest -n 2 --dist loadgroup $(PYTEST_ARGS)
	@echo "The embedded tests again on the embedded default: SQLite (WAL, IMMEDIATE), local blobs"
	var=$$(mktemp -d) && trap 'rm -rf "$$var"' EXIT && \
	  env -u DATABASE_URL -u DATABASE_APP_ROLE -u REDIS_URL -u S3_BUCKET -u EMAIL_URL \
	  DJANGO_VAR_DIR="$$var" SITE_URL=http://testserver \
	  $(VENV)/bin/pytest -n 2 -m embedded $(PYTEST_ARGS) || [ $$? = 5 ]  # 5: none selected

bench: install services
	$(PY) benchmarks/run.py

# The production stack on loopback under simulated practitioners (load/run.py): prints one
# JSON object and writes var/load/report.md with its chart; FAULTS=1 kills the worker,
# restarts Redis and cuts S3 while uploads go on, then checks every accepted upload.
LOAD_SECONDS ?= 60
FAULTS ?= 0
load: install services
	LOAD_SECONDS=$(LOAD_SECONDS) FAULTS=$(FAULTS) $(PY) load/run.py

# mypy reads what to check and how strictly from pyproject.toml (docs/architecture.md, "Type
# checking"); its cache is var/mypy.
lint:
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check . && $(VENV)/bin/mypy

format:
	$(VENV)/bin/ruff format . && $(VENV)/bin/ruff check --fix .

check-deploy: install
	DJANGO_PRODUCTION=1 DJANGO_DEBUG=0 DJANGO_SECRET_KEY=$$(openssl rand -hex 32) \
	MASTER_KEY=$$(openssl rand -base64 32) AUDIT_CHECKPOINT_KEY=$$(openssl rand -base64 32) \
	DJANGO_ALLOWED_HOSTS=clinic.example \
	$(PY) manage.py check --deploy --fail-level WARNING

clean:
	rm -rf $(VENV) node_modules var staticfiles
