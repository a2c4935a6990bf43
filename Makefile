# Every target does its own set-up: a fresh machine needs only Python 3.11+.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test test-security bench lint i18n clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
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

## The Telegram throughput benchmark (fake Bot API in its own process; the whole bot vs bare echo bots).
bench: $(VENV)/.bench
	$(PY) -m bench

lint: $(STAMP)
	$(PY) -m ruff check .

## Re-extract the msgids from the code and merge them into every catalog.
i18n: $(STAMP)
	$(VENV)/bin/pybabel extract -F babel.cfg -k N_ -k ngettext:1,2 -c Translators: -o locales/messages.pot --no-location --sort-output --width=100 .
	for l in bg it es ca el en uk ar; do \
	  if [ -f locales/$$l/LC_MESSAGES/messages.po ]; then \
	    $(VENV)/bin/pybabel update -i locales/messages.pot -d locales -D messages -l $$l --no-fuzzy-matching --ignore-obsolete --width=100; \
	  else $(VENV)/bin/pybabel init -i locales/messages.pot -d locales -D messages -l $$l; fi; \
	done
	$(PY) locales/sync_english.py

clean:
	rm -rf $(VENV) var/*.db
