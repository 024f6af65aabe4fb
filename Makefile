# Front door of the APQ engine. Every target bootstraps what it needs (.venv, dependencies,
# dataset), so `make test` and `make search TARGET=fpga` work on a fresh clone.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
APQ := $(VENV)/bin/apq
STAMP := $(VENV)/.installed

SPACE ?= fmnist
TARGET ?= fpga
PRESET ?= default
LATENCY ?=
ENERGY ?=
DATA_DIR ?=

DATA_FLAG := $(if $(DATA_DIR),--data-dir $(DATA_DIR),)

.PHONY: help setup data test bench lut space supernet search clean

help:
	@echo "make setup | data | test | bench | lut | space | supernet | search  (vars: SPACE TARGET PRESET LATENCY ENERGY DATA_DIR)"

# torch==2.13.0 first: it is the local CPU build; an unpinned torch would pull CUDA wheels.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[test,images]'
	touch $(STAMP)

setup: $(STAMP) data

data: $(STAMP)
	$(APQ) data $(DATA_FLAG)

test: setup
	$(PY) -m pytest -q

bench: setup
	$(PY) bench/cost.py

lut: setup
	$(APQ) lut --space $(SPACE) --target $(TARGET) --preset $(PRESET)

space: setup
	$(APQ) space --space $(SPACE)

# Resumes an interrupted run; does nothing when data/$(SPACE)/supernet.pt is complete for this preset.
supernet: setup
	$(APQ) supernet --space $(SPACE) --preset $(PRESET) $(DATA_FLAG)

# The joint search stage (DEAP GA, constraints, verification) is not built yet: see README "Status".
search: setup
	@echo "apq: error: 'make search' needs the supernet, samples, predictor and search stages, which are not built yet (see README, Status)" >&2; exit 2

clean:
	rm -rf results
