# Two set-up commands: `make preview` and `make test`. Both create .venv from requirements.txt
# when it is missing (or older than requirements.txt).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STACK ?= dev

.PHONY: preview policy docs test lint fmt bench-preview bench-sizing bench-links bench-routing sizing clean rehearse-changes

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

preview: $(VENV)/.installed  ## offline preview of a stack (STACK=dev by default) with the policy verdict
	$(PY) -m infra.preview --stack $(STACK) --policy-pack policies

policy: $(VENV)/.installed  ## the offline policy check on every stack file in the repo
	$(PY) -m infra.policy_check Pulumi.*.yaml

rehearse-changes: $(VENV)/.installed  ## the standard edits (demand, price, regions, upgrade, image) of dev and prod
	$(PY) -m infra.change --battery --stack dev
	$(PY) -m infra.change --battery --stack prod

docs: $(VENV)/.installed  ## regenerate the generated docs (policy rules)
	$(PY) -m policies.docs > docs/policies.md
	$(PY) -m policies.docs --readme

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .

test: lint  ## ruff + the whole test suite
	$(PY) -m pytest -n 2

sizing: $(VENV)/.installed
	$(PY) -m infra.sizing --stack $(STACK)

bench-preview: $(VENV)/.installed  ## preview vs the mock floor and the policy overhead: dev, prod, a generated 45-region stack
	$(PY) bench/bench_preview.py

bench-sizing: $(VENV)/.installed
	$(PY) bench/bench_sizing.py

fmt: $(VENV)/.installed
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis

bench-links: $(VENV)/.installed  ## link resources for generated stacks of 2..20 regions
	$(PY) bench/bench_links.py 2 5 10 20

bench-routing: $(VENV)/.installed  ## in-region routing policies: p50/p99 queueing delay (STACK=prod)
	$(PY) -m infra.routing_sim --stack $(STACK)
