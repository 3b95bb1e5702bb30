# make demo · make test · make bench — each creates .venv and installs what it needs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test bench lint clean

$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[all,dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/snn demo --out demo-output

test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m pytest -q

bench: $(STAMP)
	apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 || true
	$(VENV)/bin/snn bench benchmarks/suite.toml

lint: $(STAMP)
	$(PY) -m ruff check .

clean:
	rm -rf $(VENV) demo-output .pytest_cache .ruff_cache
