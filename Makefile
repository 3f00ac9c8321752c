# The two commands a fresh machine needs (see README):
#   make demo   set everything up and scan a sample
#   make test   set everything up and run the tests
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup demo test bench

setup:
	bash scripts/setup.sh

demo: setup
	$(PY) -m fakescope.demo

test: setup
	bash scripts/setup_browser.sh
	$(PY) -m pytest -q

bench: setup
	$(PY) benchmarks/run_all.py
