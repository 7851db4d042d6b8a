# Bigger Data v Better Math: the two commands on a fresh machine are `make reproduce` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
DVM    := $(VENV)/bin/datavsmath
PROFILE ?= full

.PHONY: help venv data reproduce quick smoke tables figures report test bench clean-venv

help:
	@echo "make reproduce  full R grids (504 fits; ~50 CPU-hours on 2 cores, a GPU job), resumable"
	@echo "make quick      the documented preview of all four experiments (~35 min on 2 cores)"
	@echo "make test       the test suite (installs what it needs into $(VENV))"
	@echo "make report     figures, statistics tables and the Quarto site"
	@echo "make bench      naive vs optimised training benchmark"

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[test]"
	touch $@

venv: $(VENV)/.installed

data: venv
	$(DVM) data || { echo "Fashion-MNIST missing: sudo apt-get install -y dataset-fashion-mnist, or: $(DVM) data --download"; exit 1; }

reproduce: PROFILE = full
reproduce: data
	@echo "Full R grids: 504 fits. Measured: ~50 CPU-hours on a 2-core CPU (use a GPU machine)."
	@echo "Interrupt any time; rerunning 'make reproduce' resumes where it stopped."
	$(DVM) run all --profile full
	$(MAKE) tables PROFILE=full

quick: data
	$(DVM) run all --profile quick
	$(MAKE) tables PROFILE=quick

smoke: data
	$(DVM) run all --profile smoke --out /tmp/datavsmath-smoke

tables: venv
	$(DVM) fit results/$(PROFILE) --out results/$(PROFILE)

figures: venv
	$(DVM) figures results/$(PROFILE) --out results/$(PROFILE)/figures

test: venv
	$(PY) -m pytest -q

bench: venv
	$(PY) bench/run.py

clean-venv:
	rm -rf $(VENV)
