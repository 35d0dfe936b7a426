# The two set-up commands of the README: `make run` and `make test`. Both create .venv and
# install idempotently (pinned by constraints.txt) before doing their job.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test lint golden

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/mlops-declare run

lint: $(STAMP)
	$(BIN)/ruff check mlops_declare tests benchmarks
	$(BIN)/ruff format --check mlops_declare tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint
	$(BIN)/python -m pytest

golden: $(STAMP)
	$(BIN)/python -m pytest tests/unit/compiler --update-golden
