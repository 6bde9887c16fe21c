# Each target sets itself up idempotently: a venv in .venv, the CPU build of torch, the package, the ROMs.
VENV ?= .venv
PY := $(VENV)/bin/python
GENIE := $(VENV)/bin/genie
SEED ?= 0

.PHONY: setup demo collect-demo test lint
setup: $(VENV)/.installed

$(VENV)/.installed: setup.cfg pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'
	$(GENIE) roms install
	touch $@

# The main job: the shipped SMB world model dreams next to the real game, driven by the same scripted actions,
# headless; writes a side-by-side GIF (left: real game, right: dream). The first 12 steps run the real game only
# (Mario starts running); then the dream starts from the real game's latest frames.
demo: setup
	SDL_VIDEODRIVER=dummy $(GENIE) play GenieDream-SMB-v0 --side-by-side --seed $(SEED) --scale 4 \
		--actions examples/smb_demo_actions.txt --dream-from 12 --record outputs/dream_demo.gif

# Real data: collect a small SMB dataset with 2 workers and preview it.
collect-demo: setup
	$(GENIE) collect --env SMB --agent sticky-random --episodes 4 --max-steps 200 --workers 2 --out outputs/demo_data --seed $(SEED)
	$(GENIE) data preview outputs/demo_data --out outputs/demo_preview.gif

test: setup
	$(PY) -m pytest -q

lint: setup
	$(VENV)/bin/ruff check .
