# fluxnotify: `make run` (local stack on the example config), `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SAM_VENV ?= .sam-venv
SAM := $(SAM_VENV)/bin/sam
# SAM builds the layer with a Python 3.12 interpreter (the Lambda runtime).
PY312 ?= $(shell for p in $$HOME/.pyenv/versions/3.12*/bin/python3.12 $$(command -v python3.12); do "$$p" -c 'import sys' 2>/dev/null && { echo "$$p"; break; }; done)

.PHONY: install run test lint bench build deploy sam clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

# The local stack with the example Providers, a printing sink on :$(SINK_PORT) standing in for
# Slack and a webhook, and two sample Flux events posted once it is up. Ctrl-C stops it.
# Other ports: make run PORT=8080 SINK_PORT=8081 (the example config is rewritten to match).
# Each PORT has its own database, emptied by serve itself (--reset-db) only once the ports
# and the file are its own: a second `make run` on busy ports refuses and touches nothing.
PORT ?= 9292
SINK_PORT ?= 9393
DEMO ?= .fluxnotify-demo-$(PORT)
DEMO_CONFIG := $(DEMO)-sink-$(SINK_PORT).yaml

# Written only when the example changed (a running stack reloads it then), never half-written.
$(DEMO_CONFIG): examples/local.yaml
	@sed 's/127\.0\.0\.1:9393/127.0.0.1:$(SINK_PORT)/g' $< > $@.tmp && mv $@.tmp $@

run: install $(DEMO_CONFIG)
	$(BIN)/fluxnotify serve --reset-db --config $(DEMO_CONFIG) --db $(DEMO).db \
		--port $(PORT) --sink 127.0.0.1:$(SINK_PORT) \
		--post events/bodies/kustomization-reconciled.json \
		--post events/bodies/helmrelease-install-failed.json

test: install
	$(BIN)/pytest

lint: install sam
	$(BIN)/ruff check layers functions tests bench
	$(BIN)/mypy
	$(BIN)/cfn-lint template.yaml
	$(SAM) validate --lint -t template.yaml

bench: install
	$(BIN)/python bench/run.py

sam: $(SAM_VENV)/.installed

$(SAM_VENV)/.installed:
	@test -n "$(PY312)" || { echo "sam build needs Python 3.12 (pyenv install 3.12)"; exit 1; }
	$(PY312) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --disable-pip-version-check aws-sam-cli
	touch $@

# ARCH: the functions' architecture (template parameter Architecture), x86_64 or arm64; the
# layer's compiled wheels are chosen for it (layers/notify/Makefile reads ARCH too).
ARCH ?= x86_64
build: sam
	PATH="$(dir $(PY312)):$$PATH" ARCH=$(ARCH) $(SAM) build --parameter-overrides Architecture=$(ARCH)

deploy: build
	$(SAM) deploy --guided --parameter-overrides Architecture=$(ARCH)

clean:
	rm -rf .aws-sam .fluxnotify-demo* .pytest_cache
