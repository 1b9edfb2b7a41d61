# Two commands do all the set-up on a fresh machine with Python 3.10+:
#   make train   # create .venv if missing, install regstudy and its launchers, run the default experiment
#   make test    # the same, plus the dev extra (pytest, ruff, ...), then the test suite
#   make lint    # ruff check (the rule set is in pyproject.toml)
# The virtual environment is rebuilt only when pyproject.toml changes (stamp files named by its hash).

PYTHON ?= python3
VENV   ?= .venv
HASH   := $(shell cat pyproject.toml | sha1sum | cut -c1-12)
STAMP  := $(VENV)/.installed-$(HASH)
DEV_STAMP := $(VENV)/.installed-dev-$(HASH)
BIN    := $(VENV)/bin
ARGS   ?=
# Real MNIST / Fashion-MNIST: REGSTUDY_DATA wins; else ../shared/datasets when present; else
# nothing is exported and runs use ./data (an empty REGSTUDY_DATA also means ./data).
ifeq ($(strip $(REGSTUDY_DATA)),)
  ifneq ($(wildcard ../shared/datasets/MNIST),)
    export REGSTUDY_DATA := $(abspath ../shared/datasets)
  endif
endif

.PHONY: install install-dev train test lint bench clean

install: $(STAMP)

install-dev: $(DEV_STAMP)

# What running needs: regstudy and the sweep launchers (joblib, submitit).
$(STAMP): pyproject.toml
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --config-settings editable_mode=compat -e ".[launchers]"
	touch $(STAMP)

# What testing adds: the dev extra.
$(DEV_STAMP): $(STAMP)
	$(BIN)/pip install --config-settings editable_mode=compat -e ".[dev,launchers]"
	touch $(DEV_STAMP)

train: $(STAMP)
	$(BIN)/regstudy train $(ARGS)

test: $(DEV_STAMP)
	$(BIN)/pytest -q $(ARGS)

lint: $(DEV_STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/python -m bench.speed $(ARGS)

clean:
	rm -rf $(VENV) outputs multirun .pytest_cache
