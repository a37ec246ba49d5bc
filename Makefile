# Two commands do everything on a fresh machine:
#   make reproduce   # venv + install + data + the whole study (PROFILE=cpu) + the book
#   make test        # venv + install + pytest
# Overrides: PROFILE=smoke|cpu|full  ONLY=03  PARAMS='scales=[2,4]'  FORCE=1

PROFILE ?= cpu
VENV    ?= .venv
PYTHON  ?= python3
PY      := $(VENV)/bin/python
ARSSR   := $(VENV)/bin/arssr
PYTEST_ARGS ?=

.PHONY: all venv data prepare reproduce notebooks book test bench clean-results help

help:
	@sed -n '1,6p' Makefile

venv: $(VENV)/.installed

# torch==2.13.0 is pinned in pyproject.toml: the CPU build that lies on disk here
# (a looser requirement would pull a multi-GB CUDA build).
$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test,book]"
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $@

# Debian's package lists may be missing on a fresh machine: refresh them once if a fetch fails.
data: venv
	$(ARSSR) data fetch || { command -v apt-get >/dev/null && apt-get update -qq && $(ARSSR) data fetch; }

prepare: data
	$(ARSSR) data prepare --profile $(PROFILE)

notebooks: data
	$(ARSSR) reproduce --profile $(PROFILE) $(if $(ONLY),--only $(ONLY)) $(if $(PARAMS),--params "$(PARAMS)") $(if $(FORCE),--force)

reproduce: notebooks
	$(ARSSR) book --profile $(PROFILE)

book: venv
	$(ARSSR) book --profile $(PROFILE)

test: data
	$(PY) -m pytest -q $(PYTEST_ARGS)

bench: venv
	for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done
