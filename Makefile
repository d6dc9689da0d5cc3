# Two commands a newcomer needs: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip

.PHONY: demo test bench lint docs clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# Installs the project (not editable: what a user gets) and runs the demo.
demo: $(PY)
	$(PIP) install --quiet .
	$(VENV)/bin/eventweave demo

# Installs the test extras and runs everything CI runs.
test: $(PY)
	$(PIP) install --quiet -e ".[test]"
	$(VENV)/bin/ruff check eventweave tests benchmarks
	$(VENV)/bin/ruff format --check eventweave tests benchmarks
	$(VENV)/bin/mypy
	$(PY) -m pytest tests
	# The whole suite again, every target woven by a generated wrapper instead of in place.
	EVENTWEAVE_DISABLE_INPLACE=1 $(PY) -m pytest tests -q -p no:randomly
	$(PY) -m pytest benchmarks --benchmark-disable -q
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet --site-dir $(VENV)/site

# Measures: prints the ratios the cost contract sets (docs/performance.md).
bench: $(PY)
	$(PIP) install --quiet -e ".[test]"
	-$(PIP) install --quiet ddtrace  # a peer shown for comparison, where it installs
	$(PY) -m benchmarks
	$(PY) -m pytest benchmarks --benchmark-only --benchmark-columns=min,median,ops -q -p no:randomly

lint: $(PY)
	$(VENV)/bin/ruff check eventweave tests benchmarks
	$(VENV)/bin/ruff format --check eventweave tests benchmarks
	$(VENV)/bin/mypy

docs: $(PY)
	$(VENV)/bin/mkdocs serve

clean:
	rm -rf $(VENV) build dist site .benchmarks
