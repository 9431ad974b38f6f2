# scheduler-lab — every target bootstraps what it needs (a venv with the project
# and its pinned tools), so each works on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PROVIDER ?= local
PYTEST_ARGS ?=
# kind: when the project started dockerd (no Docker on the machine), the cluster's API lives in
# the project's network namespace, so the e2e suite runs inside it (lab exec; no-op otherwise).
# vagrant-containers: the machines' network (192.168.56.0/24) exists only in its own namespace.
KIND_EXEC := $(if $(filter kind vagrant-containers,$(PROVIDER)),$(PY) -m lab exec --start-docker --,)

.PHONY: help doctor venv test unit e2e soak lint ci-bare ci-kind ci-vagrant-containers lab-up lab-down lab-status lab-deploy bench bench-large bench-curve wireprobe fuzz verify check hint solution reset steps docs docs-vendor docs-serve prefetch clean

help:
	@echo "make doctor      what the lab needs from this machine (PROVIDER=...): every problem and its fix"
	@echo "make lab-up      bring the lab cluster up (PROVIDER=local|kind|vagrant|existing) and deploy the schedulers"
	@echo "make test        lint + docs site (strict) + unit tests + e2e suite on the local lab"
	@echo "make unit        unit tests of the pure scheduler core (no cluster)"
	@echo "make e2e         e2e suite (PROVIDER=$(PROVIDER))"
	@echo "make soak        fault injection: SOAK_FAULTS (50) faults on each scheduler, prints the counts"
	@echo "make ci-kind     the kind lab from scratch: up, e2e, down (builds its images offline if needed)"
	@echo "make ci-bare     CI's install stage on a bare Debian root filesystem: every tool the tests call is there after it"
	@echo "make bench       decision and throughput benchmarks (python vs kube-scheduler, ratios), 10,000-node input load"
	@echo "make bench-curve CPU per pod, peak RSS and start-up of both schedulers from 500 to 5,000 nodes (JSON + plot)"
	@echo "make bench-large the throughput comparison at 5,000 nodes (75-100 minutes: warm-up + 3 rounds x 3 contenders x 2 settings)"
	@echo "make wireprobe   what a bind and its event cost the API server: protobuf or JSON, HTTP/2 or HTTP/1.1 (local lab up; Go)"
	@echo "make fuzz        FUZZ_CASES (10000) generated hostile inputs: counts of tracebacks/hangs/silent acceptances"
	@echo "make lab-status  components, nodes, allocation, leaders"
	@echo "make lab-down    stop everything the lab started"
	@echo "make verify STEP=NN  check the cluster is where workshop step NN leaves it"
	@echo "make check|hint|solution|reset STEP=NN  step NN's challenge: grade it, next hint, reference solution, back to its start"
	@echo "make docs        build the documentation site (README's docs/ pages, MkDocs Material) into site/, strict"
	@echo "make docs-serve  serve the documentation site on http://127.0.0.1:8000 while editing"
	@echo "make prefetch    before a workshop day: fetch everything it needs (PROVIDER=kind adds the kind image)"

# make prefetch keeps every wheel the venv needs here, so a venv can be re-made without network
# (PIP_NO_INDEX=1 make venv); pip looks here first whenever it exists.
WHEELHOUSE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/scheduler-lab/wheels
ifneq ($(wildcard $(WHEELHOUSE)/*.whl),)
export PIP_FIND_LINKS := $(WHEELHOUSE)
endif

venv: $(STAMP)
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,go]'
	@touch $@

test: lint docs unit e2e

unit: venv
	$(PY) -m pytest tests --ignore=tests/bare $(PYTEST_ARGS)

e2e: venv
	@# The first local run builds Kubernetes (minutes): do it before pytest's per-test timeouts.
	@if [ "$(PROVIDER)" = local ]; then $(PY) -m lab build; fi
	@# kind: Docker, kind, kubectl and (without a registry) the node image, on the host's network.
	@if [ "$(PROVIDER)" = kind ]; then $(PY) -m lab build --kind; fi
	$(KIND_EXEC) $(PY) -m pytest e2e --provider=$(PROVIDER) $(PYTEST_ARGS)

# Not part of `make test`: SOAK_FAULTS faults (default 50) on py-scheduler and on kube-scheduler.
SOAK_FAULTS ?= 50
soak: venv
	@if [ "$(PROVIDER)" = local ]; then $(PY) -m lab build; fi
	@mkdir -p .lab/logs
	set -o pipefail; SOAK_FAULTS=$(SOAK_FAULTS) $(PY) -m pytest e2e/test_fault_injection.py --provider=$(PROVIDER) \
		-s -o timeout=0 $(PYTEST_ARGS) 2>&1 | tee .lab/logs/soak.log \
		| grep --line-buffered -E '(^|py )fault [0-9]|^(py-scheduler|kube-scheduler|  after|E  |FAILED)|passed|failed'

lint: venv
	$(VENV)/bin/ruff check scheduler lab tests e2e bench
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

# The whole kind path from a clean clone: images (built offline when no registry answers),
# 1 control plane + 3 workers, both schedulers, the e2e suite, and the cluster and dockerd down.
# CI's install stage on a bare bookworm root filesystem (tests/bare): every tool the stages call is
# there afterwards. Root and a few hundred MB of Debian packages; .ci/run runs it before `make test`.
ci-bare: venv
	$(PY) -m pytest tests/bare -p no:cacheprovider $(PYTEST_ARGS)

ci-kind: venv
	@start=$$(date +%s); \
	$(MAKE) --no-print-directory lab-up PROVIDER=kind && \
	$(MAKE) --no-print-directory e2e PROVIDER=kind; rc=$$?; \
	$(MAKE) --no-print-directory lab-down; \
	echo "ci-kind: exit $$rc after $$(( $$(date +%s) - start ))s"; exit $$rc

# The Vagrant lab's own scripts in four systemd containers (no VirtualBox), offline, from a clean
# clone: box, apt repository and images built here, kubeadm init/join, both schedulers, the e2e
# suite, then everything removed (lab down --wipe).
ci-vagrant-containers: venv
	@start=$$(date +%s); \
	$(MAKE) --no-print-directory lab-up PROVIDER=vagrant-containers && \
	$(MAKE) --no-print-directory e2e PROVIDER=vagrant-containers; rc=$$?; \
	$(PY) -m lab down --wipe; \
	echo "ci-vagrant-containers: exit $$rc after $$(( $$(date +%s) - start ))s"; exit $$rc

doctor: venv
	$(PY) -m lab doctor --provider=$(PROVIDER)

lab-up: venv
	$(PY) -m lab up --provider=$(PROVIDER)
	$(KIND_EXEC) $(PY) -m lab deploy

lab-deploy: venv
	$(KIND_EXEC) $(PY) -m lab deploy

lab-down: venv
	$(PY) -m lab down

lab-status: venv
	$(PY) -m lab status

bench: venv
	$(PY) -m bench

# How CPU per pod, peak RSS and start-up grow with nodes: both schedulers at 500, 1,000, 2,000 and
# 5,000 nodes and a pod mix with inter-pod affinity and topology spread at 1,000 (JSON + PNG in docs/).
bench-curve: venv
	$(PY) -m bench.curve

# The same side-by-side throughput at 5,000 kwok nodes / 2,000 pods per run, with the bind-only ceiling (75-100 minutes on 2 cores).
bench-large: venv
	$(PY) -m bench throughput --large

# Not part of `make test`: the API server's CPU per bind (and its Scheduled event) for each wire
# format and transport a scheduler can bind with (bench/wireprobe/main.go). Needs the local lab up
# (make lab-up) and Go; the first build fetches client-go v0.29.15 from the Go module proxy.
WIREPROBE_ARGS ?=
wireprobe: venv
	cd bench/wireprobe && go build -o $(CURDIR)/.lab/wireprobe .
	@pid="$$($(PY) -c 'from pathlib import Path; from lab.host.procs import Supervisor; print(Supervisor(Path(".lab")).pid("kube-apiserver") or "")')"; \
	if [ -z "$$pid" ]; then echo "wireprobe: the local lab's kube-apiserver is not running here (make lab-up)" >&2; exit 1; fi; \
	.lab/wireprobe -kubeconfig .lab/kubeconfig -apiserver-pid "$$pid" $(WIREPROBE_ARGS)

FUZZ_CASES ?= 10000
FUZZ_SEED ?= 1
fuzz: venv
	$(PY) tests/unit/validation/fuzz.py --cases $(FUZZ_CASES) --seed $(FUZZ_SEED)

verify: venv
	@test -n "$(STEP)" || { echo "make verify: say which step, e.g. make verify STEP=05 (make steps lists them)" >&2; exit 2; }
	$(PY) -m lab verify $(STEP)

# The challenges at the end of each step: make check|hint|solution|reset STEP=NN (lab check NN, ...).
check hint solution reset: venv
	@test -n "$(STEP)" || { echo "make $@: say which step, e.g. make $@ STEP=07" >&2; exit 2; }
	@$(PY) -m lab $@ $(STEP)

steps: venv
	$(PY) -m lab steps

# The documentation site: its tools are the `docs` extra, installed into the venv on first use.
DOCS_STAMP := $(VENV)/.installed-docs
$(DOCS_STAMP): pyproject.toml $(STAMP)
	$(PY) -m pip install -q -e '.[docs]'
	@touch $@

# Mermaid is vendored into the shared cache once (npm pack at a pinned version and sha512), so the
# site loads nothing from the internet (scripts/vendor_mermaid.py says why this way).
docs-vendor: venv
	@$(PY) scripts/vendor_mermaid.py >/dev/null

docs: $(DOCS_STAMP) docs-vendor
	$(VENV)/bin/mkdocs build --strict --site-dir site

docs-serve: $(DOCS_STAMP) docs-vendor
	$(VENV)/bin/mkdocs serve --dev-addr 127.0.0.1:8000

# Before a workshop day: everything the day downloads, fetched now (docs/instructors.md). Then the
# lab comes up, the steps run and the docs build with no network: the venv and its wheels, the
# Kubernetes build (local lab), the docs tools and Mermaid, and with PROVIDER=kind Docker, kind,
# kubectl and the node image.
prefetch: $(DOCS_STAMP) docs-vendor
	$(PY) -m pip download -q -d $(WHEELHOUSE) '.[test,go,docs]' pip setuptools wheel
	$(PY) -m lab build
	@if [ "$(PROVIDER)" = kind ]; then $(PY) -m lab build --kind; fi
	@echo "prefetch: ready for a day without network (PROVIDER=$(PROVIDER)): venv $(VENV), wheels $(WHEELHOUSE)," \
	  "Kubernetes build and docs tools cached; make doctor PROVIDER=$(PROVIDER) checks the machine"
	@echo "prefetch: disk used: $$(du -sh $(dir $(WHEELHOUSE)) | cut -f1) in $(dir $(WHEELHOUSE)), $$(du -sh $(VENV) | cut -f1) in $(VENV)"

clean:
	rm -rf $(VENV) .lab .pytest_cache
