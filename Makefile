# exagan-tf: every target creates the virtual environment it needs.
#   make demo                      set up, simulate, slice, train the CPU demo, analyse it
#   make test                      the test suite (what CI runs)
#   make train CONFIG=base RUN=0   train a config tag of experiments/exagan.yaml
#   make analyze CONFIG=base RUN=0 plots + metrics.json of a trained run
#   make tensorboard               TensorBoard over expts/
#   make data                      synthetic universes -> shards for the demo and base configs
#   make bench                     speed benchmarks (ratios against baselines run alongside)
#   make lint                      ruff

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
EXTRAS ?= cpu,dev
BIN := $(VENV)/bin
PY := $(BIN)/python
CONFIG ?= base
RUN ?= 0
UNIVERSES ?= 8
NGRID ?= 128
WORKERS ?= 2
SEED ?= 0

.PHONY: venv install demo data data-demo data-raw universes train analyze tensorboard test test-slow bench lint clean-venv data-muons muons-demo

venv install: $(VENV)/.installed

$(VENV)/.installed: setup.cfg pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python >= 3.11 needed, found " + sys.version.split()[0]'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check --upgrade pip
	$(BIN)/pip install -q --disable-pip-version-check -e '.[$(EXTRAS)]'
	@touch $@

universes: venv
	$(PY) -m exagan_tf.cosmo.nbody --out data/universes --count $(UNIVERSES) --ngrid $(NGRID) \
		--workers $(WORKERS) --seed $(SEED)

# demo: 64x64 tiles of every 2nd slice; raw: the original slicing (128x128, every 8th slice)
data-demo: universes
	$(PY) -m exagan_tf.cosmo.slice_universes --input data/universes --output data/demo \
		--img-dim 64 --step 2 --val-fraction 0.25 --workers $(WORKERS)

data-raw: universes
	$(PY) -m exagan_tf.cosmo.slice_universes --input data/universes --output data/raw \
		--img-dim 128 --step 8 --workers $(WORKERS)

data: data-demo data-raw

demo: data-demo
	$(PY) -m exagan_tf.train demo $(RUN)
	$(PY) -m exagan_tf.analyze demo $(RUN)

# SHiP muons: 16 ROOT files of 20k muons (file 15 deliberately rogue and excluded), 4 categories
data-muons: venv
	$(PY) -m exagan_tf.muons.simulate --out data/muons/production --files 16 --muons-per-file 20000 --rogue 15
	$(PY) -m exagan_tf.muons.preprocess data/muons/production --out data/muons/demo --exclude muons_0015.root

muons-demo: data-muons
	for c in 1 2 3 4; do $(PY) -m exagan_tf.muons.train gan gan_demo $(RUN) --category $$c; done

train: data
	$(PY) -m exagan_tf.train $(CONFIG) $(RUN)

analyze: venv
	$(PY) -m exagan_tf.analyze $(CONFIG) $(RUN)

tensorboard: venv
	$(BIN)/tensorboard --logdir expts

test: venv
	$(PY) -m pytest -q

test-slow: venv
	$(PY) -m pytest -q -m slow

bench: venv
	$(PY) benchmarks/run_all.py

lint: venv
	$(BIN)/ruff check exagan_tf tests benchmarks

clean-venv:
	rm -rf $(VENV)
