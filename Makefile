# Two commands do all the set-up on a fresh machine with Python 3.10+:
#   make train   # create .venv if missing, install regstudy, run the default experiment
#   make test    # same install, then the test suite
# The virtual environment is rebuilt only when pyproject.toml changes (stamp file named by its hash).

PYTHON ?= python3
VENV   ?= .venv
HASH   := $(shell cat pyproject.toml | sha1sum | cut -c1-12)
STAMP  := $(VENV)/.installed-$(HASH)
BIN    := $(VENV)/bin
ARGS   ?=
# Real MNIST / Fashion-MNIST: REGSTUDY_DATA wins; else ../shared/datasets when present; else
# nothing is exported and runs use ./data (an empty REGSTUDY_DATA also means ./data).
ifeq ($(strip $(REGSTUDY_DATA)),)
  ifneq ($(wildcard ../shared/datasets/MNIST),)
    export REGSTUDY_DATA := $(abspath ../shared/datasets)
  endif
endif

.PHONY: install train test bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --config-settings editable_mode=compat -e ".[dev,launchers]"
	touch $(STAMP)

train: $(STAMP)
	$(BIN)/regstudy train $(ARGS)

test: $(STAMP)
	$(BIN)/pytest -q $(ARGS)

bench: $(STAMP)
	$(BIN)/python -m bench.speed $(ARGS)

clean:
	rm -rf $(VENV) outputs multirun .pytest_cache
