# Usual commands. `make demo` and `make test` are the README's two fresh-machine commands.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# What production installs (the Dockerfile's path): requirements.txt alone, no dev packages.
PROD_VENV := .venv-prod
PROD_BIN := $(PROD_VENV)/bin

.PHONY: venv prod-venv prod-smoke demo run test test-fast lint format check migrate worker beat bench bench-cost bench-growth bench-scale stack clean services browser-deps

$(BIN)/.installed: requirements.txt requirements-dev.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@

venv: $(BIN)/.installed

$(PROD_BIN)/.installed: requirements.txt
	rm -rf $(PROD_VENV)
	$(PY) -m venv $(PROD_VENV)
	$(PROD_BIN)/pip install -q -r requirements.txt
	$(PROD_BIN)/pip check
	touch $@

prod-venv: $(PROD_BIN)/.installed

## The production install and processes: imports, migrate, check --deploy, gunicorn + worker + beat, /readyz.
prod-smoke: prod-venv services
	$(PROD_BIN)/python scripts/prod_smoke.py

## Embedded mode (SQLite, local cache, eager tasks): migrate, print demo keys, serve on :8000.
demo: venv
	$(BIN)/python manage.py migrate --noinput -v0
	$(BIN)/python manage.py create_merchant --name "Demo Merchant"
	$(BIN)/python manage.py runserver 127.0.0.1:8000

run: demo

# The browser tests' JavaScript (axe-core, pinned in package-lock.json); Chromium is Debian's (scripts/services.sh).
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

browser-deps: services node_modules/.installed

## Test suite against real PostgreSQL, Redis, a real Celery worker and a real browser (starts/installs them if absent).
test: venv prod-venv browser-deps
	$(BIN)/python -m pytest --ds=gateway_project.settings.test $(PYTEST_ARGS)

test-fast: venv prod-venv browser-deps
	$(BIN)/python -m pytest --ds=gateway_project.settings.test -m "not slow" $(PYTEST_ARGS)

services:
	@bash scripts/services.sh

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

check: venv
	$(BIN)/python manage.py makemigrations --check --dry-run
	DJANGO_SETTINGS_MODULE=gateway_project.settings.production SECRET_KEY=$$($(BIN)/python -c 'import secrets;print(secrets.token_urlsafe(64))') \
		DATABASE_URL=postgres://postgres@127.0.0.1:5432/gateway REDIS_URL=redis://127.0.0.1:6379/0 ALLOWED_HOSTS=gateway.example.com \
		ENCRYPTION_KEYS=k1:$$($(BIN)/python -c 'import base64,os;print(base64.urlsafe_b64encode(os.urandom(32)).decode())') \
		HMAC_KEY=$$($(BIN)/python -c 'import secrets;print(secrets.token_urlsafe(48))') \
		$(BIN)/python manage.py check --deploy --fail-level WARNING

migrate: venv
	$(BIN)/python manage.py migrate

worker: venv
	$(BIN)/celery -A gateway_project worker --loglevel=INFO

beat: venv
	$(BIN)/celery -A gateway_project beat --loglevel=INFO

bench: venv services
	$(BIN)/python bench/run.py

## The cost of one create+confirm in-process: CPU, statements, transactions, Redis commands, bytes written.
bench-cost: venv services
	$(BIN)/python bench/cost.py

## Cost as work grows: create+confirm and the payments list, empty vs 1,000,000 seeded payments (a few minutes).
bench-growth: venv services
	$(BIN)/python bench/growth.py

## Scale-out: create+confirm through nginx over 1, 2 and 3 instances (PgBouncer, production venv).
bench-scale: venv prod-venv services
	$(BIN)/python bench/scale.py

## The production stack on 127.0.0.1 (nginx TLS round robin, 2 instances, PgBouncer, worker, beat, sinks).
stack: venv prod-venv services
	$(BIN)/python deploy/stack.py up --instances $${INSTANCES:-2}

clean:
	rm -rf $(VENV) $(PROD_VENV) gateway-demo.sqlite3 staticfiles node_modules test-artifacts
