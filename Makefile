# ckslab: `make up` starts the lab's cluster, `make test` runs every test. `make help` lists all.
PYTHON  ?= python3
VENV    := .venv
CKSLAB  := $(VENV)/bin/ckslab
PYTEST  := $(VENV)/bin/pytest
BACKEND ?= auto
LAB     ?= certificates-api
STAMP   := $(VENV)/.installed
# `make test` runs the suite in this many pytest-xdist workers (tests/conftest.py keeps the modules that share the
# container engine or Unix accounts in one worker); 0 runs it in one process.
TEST_WORKERS ?= 2
# The browser test drives this Chromium (Debian's package); Playwright never downloads one.
CHROMIUM ?= /usr/bin/chromium
export CKSLAB_CHROMIUM := $(CHROMIUM)

.DEFAULT_GOAL := help
.PHONY: help setup class-proxy binaries node-image kind-ready browser up down status env doctor list lab grade hint reset jupyter test test-unit lint bench clean

help: ## Show this help
	@echo "ckslab: hands-on Kubernetes Certificates API labs"
	@echo
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@echo
	@echo "Variables: BACKEND=$(BACKEND) (auto|kind|local|existing), KIND_WORKERS, KUBECONFIG (existing), LAB"

setup: $(STAMP) ## Create .venv and install ckslab (every target does this first)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "ckslab needs Python 3.11 or newer: install it and run make again (or make PYTHON=python3.11 ...)")'
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	@touch $@

binaries: setup ## Build (or fetch) the pinned Kubernetes, etcd and kind binaries into the cache
	@$(CKSLAB) binaries

node-image: setup ## Build the kind node image of the pinned release here (no registry needed; cached)
	@$(CKSLAB) node-image

up: setup ## Start the cluster (BACKEND=auto|kind|local|existing)
	@$(CKSLAB) up --backend $(BACKEND)

down: setup ## Stop and remove the cluster (safe to run twice; repairs a damaged .lab/)
	@$(CKSLAB) down

status: setup ## Show each control-plane component's health
	@$(CKSLAB) status

env: setup ## Print the shell exports: eval "$(make -s env)"
	@$(CKSLAB) env

doctor: setup ## Check binaries, Docker, the cluster, versions and CSR signing
	@$(CKSLAB) doctor

list: setup ## The labs and your progress in each
	@$(CKSLAB) list

lab: setup ## Start a lab: make lab LAB=certificates-api
	@$(CKSLAB) start $(LAB)

# A failing step is the grade's result, not make's error: `ckslab grade` exiting 1 (graded, a step
# fails) ends the target quietly; 2 (could not grade) stays an error. Scripts use `ckslab grade`.
grade: setup ## Grade a lab: make grade LAB=certificates-api
	@$(CKSLAB) grade $(LAB) || [ $$? -eq 1 ]

hint: setup ## A hint for the first step not done: make hint LAB=certificates-api
	@$(CKSLAB) hint $(LAB)

reset: setup ## Return a lab to its start, backing up your files: make reset LAB=...
	@$(CKSLAB) reset $(LAB)

jupyter: setup ## Start JupyterLab on 127.0.0.1 on your lab notebooks: make jupyter LAB=...
	@$(CKSLAB) jupyter --lab $(LAB)

browser: ## Chromium for the browser test: installed with apt-get as root on Debian, else the command to run
	@if [ -x "$(CHROMIUM)" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "Installing Debian's chromium for the browser test: apt-get install chromium"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  test -x "$(CHROMIUM)" || { echo "apt-get installed chromium, but $(CHROMIUM) is missing: run  make test CHROMIUM=\$$(command -v chromium)" >&2; exit 1; }; \
	else \
	  for pm in "apt-get:sudo apt-get install -y chromium" "dnf:sudo dnf install -y chromium" \
	            "zypper:sudo zypper install -y chromium" "pacman:sudo pacman -S --noconfirm chromium" \
	            "brew:brew install --cask chromium"; do \
	    if command -v "$${pm%%:*}" >/dev/null; then cmd="$${pm#*:}"; break; fi; \
	  done; \
	  echo "The browser test needs Chromium at $(CHROMIUM). Run:  $${cmd:-your system's command to install Chromium}" >&2; \
	  echo "(or point at one you have:  make test CHROMIUM=/path/to/chromium)" >&2; \
	  exit 1; \
	fi

test: setup binaries browser class-proxy ## Run every test: unit tests and tests on a real local control plane
	$(PYTEST) -n $(TEST_WORKERS) --dist loadscope --no-loadscope-reorder --durations=40

test-unit: setup ## Run the fast tests that need no cluster
	$(PYTEST) -m "not cluster"

class-proxy: setup ## Install JupyterHub's proxy (npm's configurable-http-proxy, pinned) into the cache, for ckslab class
	@$(CKSLAB) class proxy

lint: setup ## Type-check the library code (mypy --strict) and check its layers (lint-imports)
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

kind-ready: setup ## Make this machine able to run kind: checks the engine, installs/starts one where needed
	@$(CKSLAB) kind-ready

bench: setup binaries ## Measure up time, CSR signing, memory, the exam and (as root) a class of 10 (writes .lab/bench.json)
	@$(CKSLAB) bench

clean: down ## Remove .venv (the binaries cache in ~/.cache/ckslab is kept)
	rm -rf $(VENV)
