# Liantu: `make run` starts the platform on the embedded default, `make test` runs every check.
# Both install what is missing first (Debian packages, the Python virtualenv, npm packages).

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEBIAN_PACKAGES := fonts-noto-cjk chromium poppler-utils softhsm2 docker-compose wrk nginx-light
SYSTEM_STAMP := var/.system-packages
PYTHON_STAMP := $(VENV)/.installed
FRONTEND_STAMP := app/static/vendor/.installed

.PHONY: run test install lint check-docker clean-venv

run: install
	$(BIN)/liantu run

test: install
	$(BIN)/ruff check app review signing storage tests bench
	$(BIN)/mypy app review signing storage
	$(BIN)/lint-imports
	$(BIN)/pytest $(PYTEST_ARGS)

install: $(SYSTEM_STAMP) $(PYTHON_STAMP) $(FRONTEND_STAMP)

lint: install
	$(BIN)/ruff check app review signing storage tests bench
	$(BIN)/ruff format --check app review signing storage tests bench

$(SYSTEM_STAMP): Makefile
	@missing=""; for p in $(DEBIAN_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	$(PYTHON) -c 'import venv, ensurepip' 2>/dev/null || missing="$$missing python3-venv python3-dev"; \
	command -v npm >/dev/null 2>&1 || missing="$$missing nodejs npm"; \
	if [ -n "$$missing" ]; then \
	  echo "Installing Debian packages:$$missing"; \
	  if [ "$$(id -u)" != 0 ]; then echo "run as root, or install:$$missing" >&2; exit 1; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@mkdir -p var && touch $@

$(PYTHON_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

$(FRONTEND_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	mkdir -p app/static/vendor
	rm -rf app/static/vendor/openseadragon
	cp -r node_modules/openseadragon/build/openseadragon app/static/vendor/openseadragon
	touch $@

check-docker:
	LIANTU_SECRET_KEY=$$(printf k%.0s {1..48}) docker-compose -f docker/compose.yaml config --quiet
