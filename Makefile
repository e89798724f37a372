# hhlif developer and user targets. `make setup` once, then `make test` / `make train`.
VENV       ?= .venv
PYTHON     ?= python3
TORCH_SPEC ?= torch==2.13.0
EXTRAS     ?= dev,launchers,optuna,docs,video
BIN        := $(VENV)/bin
ARGS       ?=
TEST_JOBS  ?= auto   # pytest-xdist workers (one per CPU core), each on one thread

.PHONY: setup train test test-slow smoke lint format docs docs-serve tensorboard clean

setup: $(BIN)/hhlif ## create .venv with torch ($(TORCH_SPEC)) and hhlif[$(EXTRAS)]

$(BIN)/hhlif: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e ".[$(EXTRAS)]"
	@touch $@

train: setup ## the main job: HH network on MultiMNIST (add ARGS="trainer.max_epochs=1 ...")
	$(BIN)/hhlif train neuron=hh task=multimnist $(ARGS)

test: setup ## the test suite (slow tests excluded), under 5 minutes on 2 CPU cores
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -n $(TEST_JOBS)

test-slow: setup ## the slow tests only (every paper model, one epoch on 2,000 samples)
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -m slow -n $(TEST_JOBS)

smoke: setup ## train all ten paper models for one epoch on 2,000 samples (a Hydra multirun)
	$(BIN)/hhlif train -m model=lif,4lif,hh,lif_hh,ann network=fc,conv trainer.max_epochs=1 task.limit_train=2000 $(ARGS)

lint: setup
	$(BIN)/ruff check hhlif tests scripts examples

format: setup
	$(BIN)/ruff check --fix hhlif tests scripts

docs: setup ## build the documentation site into site/ (strict: a warning or a broken link fails)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

docs-serve: setup ## serve the documentation at http://127.0.0.1:8000, rebuilt on every change
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve

tensorboard: setup ## browse every run and sweep
	$(BIN)/tensorboard --logdir outputs

clean: ## remove caches and build artefacts (keeps outputs/)
	rm -rf .pytest_cache .ruff_cache build dist site *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
