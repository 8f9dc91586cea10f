# Two set-up commands: `make preview` and `make test`. Both create .venv from requirements.txt
# when it is missing (or older than requirements.txt).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STACK ?= dev

.PHONY: preview test lint fmt bench-preview bench-sizing sizing clean

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

preview: $(VENV)/.installed  ## offline preview of a stack (STACK=dev by default)
	$(PY) -m infra.preview --stack $(STACK)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .

test: lint  ## ruff + the whole test suite
	$(PY) -m pytest -n 2

sizing: $(VENV)/.installed
	$(PY) -m infra.sizing --stack $(STACK)

bench-preview: $(VENV)/.installed  ## wall time and resource counts: dev, prod, a generated 20-region stack
	$(PY) bench/bench_preview.py

bench-sizing: $(VENV)/.installed
	$(PY) bench/bench_sizing.py

fmt: $(VENV)/.installed
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
