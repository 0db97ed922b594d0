# `make demo` and `make test` bootstrap everything they need, idempotently:
# Debian packages (if missing) -> .venv with the pinned wheels -> ROS 2 messages from msg/
# -> reactface installed in editable mode. A second run only re-does what changed.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMPS := $(VENV)/.stamps

.PHONY: help demo test lint format model bootstrap messages clean distclean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

demo: bootstrap  ## run the end-to-end demo on the embedded default model (writes demo/)
	$(BIN)/reactface demo

test: bootstrap lint  ## run the whole test suite (ROS, slow and all)
	$(BIN)/python -m pytest

model: bootstrap  ## retrain the shipped model from scratch: randomised synthetic world + 2-process training (57 min on a quiet fast 2-core machine, 95 min on a slower one)
	rm -rf data/synth runs/synth
	$(BIN)/reactface synth --out data/synth --clips 400 --listeners-per-speaker 15 --seed 0
	$(BIN)/reactface prepare --data data/synth --only camera --split train --clips 20 --workers 2
	$(BIN)/torchrun --standalone --nproc_per_node 2 -m reactface_core.cli train --config config/train_synth.yaml
	$(BIN)/reactface calibrate --checkpoint runs/synth/best.pt --data data/synth --out reactface_core/checkpoints/reactface_synth.pt

lint: bootstrap  ## ruff: lint and formatting check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: bootstrap  ## ruff: fix what can be fixed and format
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bootstrap: $(STAMPS)/editable  ## set up .venv (apt packages, wheels, messages)

messages: $(STAMPS)/messages  ## (re)build the ROS 2 messages into .venv, install the ROS layout (ros2 run/launch)

$(STAMPS)/apt: tools/apt-deps.sh
	PYTHON=$(PYTHON) tools/apt-deps.sh
	@mkdir -p $(STAMPS) && touch $@

$(BIN)/python: | $(STAMPS)/apt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || \
		{ echo "reactface needs Python 3.11 (the ROS 2 and torch wheels are cp311); set PYTHON=python3.11" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(STAMPS)/requirements: requirements.txt $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@mkdir -p $(STAMPS) && touch $@

$(STAMPS)/messages: $(STAMPS)/requirements tools/build-messages.sh tools/reactface_ros-ament.pth \
		CMakeLists.txt package.xml $(wildcard msg/*.msg scripts/*) launch config  # share/ links to launch/, config/
	tools/build-messages.sh $(VENV)
	@touch $@

$(STAMPS)/editable: $(STAMPS)/messages pyproject.toml
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation \
		--config-settings editable_mode=compat -e .
	@touch $@

clean:  ## remove build outputs (keeps .venv)
	rm -rf build .pytest_cache .ruff_cache

distclean: clean  ## remove .venv too
	rm -rf $(VENV)
