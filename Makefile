# Every target does its own set-up: a fresh machine needs only Python 3.11+.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test test-security bench bench-quick lint lock i18n clean

# Installs exactly what requirements.lock pins (with hashes), then the package itself.
$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --require-hashes -r requirements.lock
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

## The main job: with no channel token set, the web chat on 127.0.0.1:8080 with demo data.
run: $(STAMP)
	$(PY) -m bot run

## All tests (SQLite always; PostgreSQL, Redis and Chromium where present, and required when CI is set).
test: $(STAMP)
	$(PY) -m pytest -q -m "not security"

## The slow adversarial suite (docs/THREAT_MODEL.md): hostile input with hypothesis, data at rest.
test-security: $(STAMP)
	$(PY) -m pytest -q -m security

$(VENV)/.bench: $(STAMP)
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	touch $(VENV)/.bench

## Every benchmark of issue 12 (throughput vs bare aiogram and PTB, core latency, memory, start-up),
## with each target and whether it is met; JSON under bench/results/. About 5-10 minutes.
bench: $(VENV)/.bench
	$(PY) -m bench

## The same with smaller data (a minute or two): a check, not the figures to quote.
bench-quick: $(VENV)/.bench
	$(PY) -m bench --quick

## ruff, the import contracts of the layers (pyproject.toml), and mypy.
lint: $(STAMP)
	$(PY) -m ruff check .
	$(VENV)/bin/lint-imports
	$(PY) -m mypy

## Refresh requirements.lock from pyproject.toml's ranges (pip-tools, with hashes).
lock: $(STAMP)
	$(VENV)/bin/pip-compile --quiet --extra dev --generate-hashes --allow-unsafe --strip-extras \
	  --no-emit-index-url --no-emit-find-links -o requirements.lock pyproject.toml

## Re-extract the msgids from the code and merge them into every catalog.
i18n: $(STAMP)
	$(VENV)/bin/pybabel extract -F babel.cfg -k N_ -k ngettext:1,2 -c Translators: -o locales/messages.pot --project="WE GO! bot" --no-location --sort-output --width=100 .
	for l in bg it es ca el en uk ar; do \
	  if [ -f locales/$$l/LC_MESSAGES/messages.po ]; then \
	    $(VENV)/bin/pybabel update -i locales/messages.pot -d locales -D messages -l $$l --no-fuzzy-matching --ignore-obsolete --width=100; \
	  else $(VENV)/bin/pybabel init -i locales/messages.pot -d locales -D messages -l $$l; fi; \
	done
	$(PY) locales/sync_english.py

clean:
	rm -rf $(VENV) var/*.db
