# simple-etl — `make help` lists every target.
.DEFAULT_GOAL := help
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c

PYTHON ?= python3
VENV := $(CURDIR)/.venv
TOOLS := $(CURDIR)/.tools/bin
# Project tools come first, so every target uses the pinned versions.
export PATH := $(TOOLS):$(VENV)/bin:$(PATH)

# Pinned tool versions; `make tools` installs them into .tools/bin.
HELM_VERSION := v3.19.2
KIND_VERSION := v0.30.0
KUBECTL_VERSION := v1.34.2
SKAFFOLD_VERSION := v2.16.1
CHECKOV_VERSION := 3.3.30
OS := $(shell uname -s | tr '[:upper:]' '[:lower:]')
ARCH := $(shell uname -m | sed -e 's/x86_64/amd64/' -e 's/aarch64/arm64/')

# The local platform: one kind cluster, one namespace, one release.
CLUSTER := simple-etl
NAMESPACE := simple-etl
RELEASE := simple-etl
# Chart.yaml's appVersion is the one source of the images' tag.
APP_VERSION = $(shell awk '/^appVersion:/ {gsub(/"/, "", $$2); print $$2}' charts/simple-etl/Chart.yaml)

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

# Go tools build from the module proxy. kubectl is not go-installable, so it comes from
# its release download, checked against the published sha256.
$(TOOLS)/.helm-$(HELM_VERSION):
	mkdir -p $(TOOLS)
	GOBIN=$(TOOLS) go install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)
	touch $@

$(TOOLS)/.kind-$(KIND_VERSION):
	mkdir -p $(TOOLS)
	GOBIN=$(TOOLS) go install sigs.k8s.io/kind@$(KIND_VERSION)
	touch $@

define download
	mkdir -p $(TOOLS)
	curl -fsSL -o $(TOOLS)/$(1).download $(2)
	echo "$$(curl -fsSL $(2).sha256 | cut -d' ' -f1)  $(TOOLS)/$(1).download" | sha256sum -c --quiet
	chmod +x $(TOOLS)/$(1).download && mv $(TOOLS)/$(1).download $(TOOLS)/$(1)
endef

$(TOOLS)/.kubectl-$(KUBECTL_VERSION):
	$(call download,kubectl,https://dl.k8s.io/release/$(KUBECTL_VERSION)/bin/$(OS)/$(ARCH)/kubectl)
	touch $@

# skaffold's go.mod has replace directives, so `go install` refuses it: download the
# module's source from the proxy and build it there.
SKAFFOLD_MODULE := github.com/GoogleContainerTools/skaffold/v2
$(TOOLS)/.skaffold-$(SKAFFOLD_VERSION):
	mkdir -p $(TOOLS)
	cd "$$(go mod download -json $(SKAFFOLD_MODULE)@$(SKAFFOLD_VERSION) \
		| $(PYTHON) -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')" \
		&& go build -trimpath -o $(TOOLS)/skaffold \
			-ldflags "-s -w -X $(SKAFFOLD_MODULE)/pkg/skaffold/version.version=$(SKAFFOLD_VERSION)" \
			./cmd/skaffold
	touch $@

# checkov, the manifest scanner of `make lint` (k8s/scan/), in a virtualenv of its own:
# its pinned dependencies must never meet Airflow's in .venv.
CHECKOV_VENV := $(CURDIR)/.tools/checkov
$(TOOLS)/.checkov-$(CHECKOV_VERSION):
	mkdir -p $(TOOLS)
	$(PYTHON) -m venv --clear $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/pip install --quiet checkov==$(CHECKOV_VERSION)
	ln -sf $(CHECKOV_VENV)/bin/checkov $(TOOLS)/checkov
	touch $@

TEST_TOOLS := $(TOOLS)/.helm-$(HELM_VERSION) $(TOOLS)/.kind-$(KIND_VERSION) $(TOOLS)/.skaffold-$(SKAFFOLD_VERSION) \
	$(TOOLS)/.checkov-$(CHECKOV_VERSION)

.PHONY: tools
tools: $(TEST_TOOLS) $(TOOLS)/.kubectl-$(KUBECTL_VERSION) ## Install pinned kind, helm, kubectl, skaffold, checkov into .tools/bin

.PHONY: test
test: venv $(TEST_TOOLS) ## Run every test tier (unit, integration, dags, charts, dashboards, dev loop)
	$(VENV)/bin/pytest

.PHONY: lint
lint: venv $(TEST_TOOLS) ## ruff (check + format), yamllint, helm lint, the manifest scanner
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/yamllint -s .
	helm lint --strict charts/simple-etl -f k8s/values-kind.yaml
	$(VENV)/bin/python k8s/scan/scan.py

.PHONY: up
up: ## Create the kind cluster, build and load both images, deploy the chart
	@k8s/preflight.sh docker kind helm kubectl
	kind get clusters | grep -qx $(CLUSTER) || kind create cluster --config k8s/kind-config.yaml
	docker build -t simple-etl:$(APP_VERSION) etl_image
	docker build -t simple-etl-airflow:$(APP_VERSION) dags
	kind load docker-image --name $(CLUSTER) simple-etl:$(APP_VERSION) simple-etl-airflow:$(APP_VERSION)
	helm upgrade --install $(RELEASE) charts/simple-etl --namespace $(NAMESPACE) --create-namespace \
		--kube-context kind-$(CLUSTER) -f k8s/values-kind.yaml --wait --timeout 15m
	helm get notes $(RELEASE) --namespace $(NAMESPACE) --kube-context kind-$(CLUSTER)

.PHONY: dev
dev: ## The edit → rebuild → redeploy loop on the kind cluster (skaffold dev)
	@k8s/preflight.sh docker kind helm kubectl skaffold
	kind get clusters | grep -qx $(CLUSTER) || kind create cluster --config k8s/kind-config.yaml
	skaffold dev --profile kind

.PHONY: down
down: ## Delete the kind cluster and everything in it
	@k8s/preflight.sh kind
	kind delete cluster --name $(CLUSTER)

.PHONY: e2e
e2e: venv ## End-to-end test against the current kube context; fails when no cluster is reachable
	@k8s/preflight.sh helm kubectl
	E2E_REQUIRED=1 $(VENV)/bin/pytest tests/e2e -m e2e -v

BENCH_VENV := $(CURDIR)/.venv-bench

# The benchmark's own virtualenv: the ETL package plus its peer (dlt), which must never
# reach .venv or the image.
$(BENCH_VENV)/.installed: bench/requirements.txt etl_image/pyproject.toml
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install --quiet --upgrade pip
	$(BENCH_VENV)/bin/pip install --quiet -e ./etl_image -r bench/requirements.txt
	touch $@

# The air-gapped test cluster's stage: `api` (API server, no node) or `node` (pods run).
E2E_LOCAL_STAGE ?= node

.PHONY: e2e-local
e2e-local: venv $(TOOLS)/.helm-$(HELM_VERSION) ## e2e on a throwaway Kubernetes built here (root; ~4-8 min warm, ~15 min cold; not in make test)
	k8s/airgap/e2e-local.sh $(E2E_LOCAL_STAGE)

.PHONY: bench
bench: $(BENCH_VENV)/.installed ## Throughput vs the COPY floor, a naive loader and dlt (not a test; ~3 min)
	$(BENCH_VENV)/bin/python -m bench.run

.PHONY: memcheck
memcheck: venv ## Print the ETL's peak memory for 5 000 vs 50 000 people
	$(VENV)/bin/python -m tests.support.memcheck
