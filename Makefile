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
# Extra flags for `apq search`, e.g. SEARCH_FLAGS=--baselines
SEARCH_FLAGS ?=
# `make verify` / `make export`: a run folder or name (default: the latest run of SPACE/TARGET),
# and the export format (onnx, torch or all).
RUN ?=
FORMAT ?= all
# `make finetune`: passes over the training split (default: the preset's, 2 on default: ~7.5 min here).
EPOCHS ?=
# Sample generation: JOBS workers (default one per core); BACKEND=dask with ADDRESS=tcp://host:8786
# spreads the same work over a dask.distributed cluster.
JOBS ?=
BACKEND ?= loky
ADDRESS ?=

# Where torch comes from: `make setup` installs TORCH_SPEC first, from TORCH_INDEX when set (e.g.
# TORCH_INDEX=https://download.pytorch.org/whl/cpu for the CPU build on a host without this one's
# wheel cache; an unpinned torch from PyPI pulls CUDA wheels on Linux).
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?=
# Benchmark JSON (committed) and the page generated from it.
BENCH_DIR ?= results/bench
REPORT ?= docs/results.md

DATA_FLAG := $(if $(DATA_DIR),--data-dir $(DATA_DIR),)
SAMPLE_FLAGS := --backend $(BACKEND)$(if $(JOBS), --jobs $(JOBS),)$(if $(ADDRESS), --address $(ADDRESS),)

.PHONY: help setup data test test-fast bench bench-cost bench-search bench-fake-quant bench-predictor bench-supernet \
	bench-quant bench-samples bench-quality bench-sensitivity bench-pipeline report lut space supernet samples predictor search verify \
	finetune export clean

help:
	@echo "make setup | data | test | test-fast | report"
	@echo "     bench (bench-cost bench-search bench-fake-quant bench-predictor) | bench-supernet | bench-quant"
	@echo "     bench-samples | bench-quality | bench-sensitivity | bench-pipeline"
	@echo "     lut | space | supernet | samples | predictor | search | verify | finetune | export"
	@echo "  vars: SPACE TARGET PRESET LATENCY ENERGY DATA_DIR SEARCH_FLAGS JOBS BACKEND ADDRESS RUN FORMAT EPOCHS"
	@echo "        TORCH_SPEC TORCH_INDEX (make setup)"

# torch first (TORCH_SPEC, from TORCH_INDEX when set), so that installing this package adds no other build.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet '$(TORCH_SPEC)'$(if $(TORCH_INDEX), --index-url $(TORCH_INDEX),)
	$(PY) -m pip uninstall --quiet --yes apq 2>/dev/null || true  # the distribution's name before it became apq-engine
	$(PY) -m pip install --quiet -e '.[test,images]'
	touch $(STAMP)

setup: $(STAMP) data

data: $(STAMP)
	$(APQ) $(DATA_CMD)

test: setup
	$(PY) -m pytest -q

# The suite without the tests marked slow (end to end through make, notebooks, export, crash tests).
test-fast: setup
	$(PY) -m pytest -q -m "not slow"

# $(call BENCH,name,flags): bench/<name>.py writes $(BENCH_DIR)/<name>.json, then the JSON is stamped
# with the date, commit, host and load average (`python -m apq.report stamp`); `make report` turns
# the JSON into $(REPORT).
BENCH = $(PY) bench/$(1).py --out $(BENCH_DIR)/$(1).json $(2) && $(PY) -m apq.report stamp $(BENCH_DIR)/$(1).json --command 'make $@'

# Fast benchmarks (a few minutes): cost-model throughput, search throughput, fake-quantization
# kernel speed, predictor metrics (on synthetic samples until `make samples` has made real ones).
bench: bench-cost bench-search bench-fake-quant bench-predictor

bench-cost: setup
	$(call BENCH,cost)

bench-search: setup
	$(call BENCH,search)

bench-fake-quant: setup
	$(call BENCH,fake_quant)

bench-predictor: setup
	$(call BENCH,predictor,$(if $(wildcard data/$(SPACE)/samples_quant.h5),,--synthetic))

# docs/results.md from the committed benchmark JSON (nobody edits it by hand).
report: $(STAMP)
	$(PY) -m apq.report --bench-dir $(BENCH_DIR) --out $(REPORT)

# Slow benchmarks on the default artifacts: sample noise/spread/throughput (~10 min) and
# verified search quality, joint vs baselines (~1 h).
bench-samples: supernet
	$(call BENCH,samples)

bench-quality: predictor
	$(call BENCH,search_quality,--jobs 2)

# The structured predictor's linear drop started from a one-layer-at-a-time quantization scan of
# the supernet, against its constant start, on the predictor stage's own held-out samples.
bench-sensitivity: samples
	$(call BENCH,sensitivity)

# Supernet sub-nets vs the same sub-nets trained from scratch (~1 h), and the whole default
# pipeline timed stage by stage in a fresh APQ_ROOT (~1 h).
bench-supernet: supernet
	$(call BENCH,supernet)

# The measured comparisons behind the quantization defaults: W4A4 per-channel vs per-tensor
# weights, learned vs fixed activation ranges, and fine-tune length vs ranking (~15 min).
bench-quant: supernet
	$(call BENCH,quant)

bench-pipeline: setup
	$(call BENCH,pipeline)

lut: setup
	$(APQ) lut --space $(SPACE) --target $(TARGET) --preset $(PRESET)

space: setup
	$(APQ) space --space $(SPACE)

# The stages run through `apq run STAGE`: every stage up to STAGE from the stage table
# (apq/stages/table.py), in one process, each a no-op when its artifact is up to date for this
# preset and resumed when interrupted, so `make search` on a fresh clone builds supernet ->
# samples -> predictor first. An artifact made with another preset or settings is refused, not
# overwritten (rerun that stage with --force to replace it).
DATA_CMD = data $(DATA_FLAG)
CONSTRAINT := $(if $(LATENCY),--latency $(LATENCY),)$(if $(ENERGY), --energy $(ENERGY),)
RUN_FLAGS = --space $(SPACE) --preset $(PRESET) $(DATA_FLAG) --args 'samples=$(SAMPLE_FLAGS)'

supernet: $(STAMP)
	$(APQ) run supernet $(RUN_FLAGS)

samples: $(STAMP)
	$(APQ) run samples $(RUN_FLAGS)

predictor: $(STAMP)
	$(APQ) run predictor $(RUN_FLAGS)

# The main job: joint search under the constraint (or the default budget), then verification
# of the winner on the test split.
search: $(STAMP)
	$(APQ) run search $(RUN_FLAGS) --target $(TARGET) $(CONSTRAINT) --args 'search=$(SEARCH_FLAGS)'

# Verify the latest run of SPACE/TARGET again (e.g. after `apq search --baselines`).
verify: setup
	$(APQ) verify $(RUN) --space $(SPACE) --target $(TARGET) $(if $(RUN),,--preset $(PRESET)) $(DATA_FLAG)

# Train the verified winner of the latest run of SPACE/TARGET (or RUN) further, quantization in the
# loop, distilled from an fp32 teacher (~7.5 min on default here, resumable); `make export` then exports it.
finetune: setup
	$(APQ) finetune $(RUN) --space $(SPACE) --target $(TARGET) $(if $(RUN),,--preset $(PRESET)) $(DATA_FLAG)$(if $(EPOCHS), --epochs $(EPOCHS),)

# Export the latest verified run of SPACE/TARGET (ONNX QDQ + PyTorch), checked with onnxruntime.
export: setup
	$(APQ) export $(RUN) --space $(SPACE) --target $(TARGET) --format $(FORMAT) $(DATA_FLAG)

clean:
	rm -rf results
