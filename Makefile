# simple-etl — `make help` lists every target.
.DEFAULT_GOAL := help
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c

PYTHON ?= python3
VENV := $(CURDIR)/.venv
TOOLS := $(CURDIR)/.tools/bin
# Project tools come first, so every target uses the pinned versions.
export PATH := $(TOOLS):$(VENV)/bin:$(PATH)

HELM_VERSION := v3.19.2

.PHONY: help
help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(VENV)/.installed: requirements-dev.txt etl_image/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e ./etl_image -r requirements-dev.txt
	touch $@

.PHONY: venv
venv: $(VENV)/.installed ## Create .venv with the ETL package and the pinned test tools

$(TOOLS)/.helm-$(HELM_VERSION):
	mkdir -p $(TOOLS)
	GOBIN=$(TOOLS) go install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)
	touch $@

.PHONY: tools
tools: $(TOOLS)/.helm-$(HELM_VERSION) ## Install the pinned CLI tools into .tools/bin

.PHONY: test
test: venv tools ## Run every test tier (unit, integration, dags, charts, dashboards)
	$(VENV)/bin/pytest

.PHONY: lint
lint: venv tools ## ruff (check + format), yamllint, helm lint
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/yamllint -s .

.PHONY: memcheck
memcheck: venv ## Print the ETL's peak memory for 5 000 vs 50 000 people
	$(VENV)/bin/python -m tests.support.memcheck
