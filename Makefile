# exagan-tf: every target creates the virtual environment it needs.
#   make demo                      set up, simulate, slice, train the CPU demo, analyse it
#   make test                      the test suite (what CI runs)
#   make train CONFIG=base RUN=0   train any config tag of any system (exagan list) into expts/CONFIG/runRUN
#   make analyze CONFIG=base RUN=0 the system's analysis of a trained run
#   make tensorboard               TensorBoard over expts/
#   make data                      synthetic universes -> shards for the demo and base configs
#   make bench                     speed benchmarks (ratios against baselines run alongside)
#   make lint                      ruff and the import-linter layering contracts (setup.cfg)
#   make train CONFIG=cvae_demo    baryon painting (also cgan_demo, cfm_demo); make gr-demo, cmb-demo, muons-demo

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
EXTRAS ?= cpu,dev
BIN := $(VENV)/bin
PY := $(BIN)/python
CONFIG ?= base
RUN ?= 0
# 9 universes: the demo's 6 training universes of 8 and 3 validation ones (see data-demo)
UNIVERSES ?= 9
NGRID ?= 128
WORKERS ?= 2
SEED ?= 0

.PHONY: data-gr venv install demo data data-demo data-raw universes train analyze tensorboard test test-slow bench lint clean-venv data-muons muons-demo data-baryons data-baryons-full gr-demo cmb-demo

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

# demo: 64x64 tiles of every 2nd slice; raw: the original slicing (128x128, every 8th slice).
# DEMO_VAL_FRACTION 0.34 of 9 universes = 3 validation universes, the fewest whose mean P(k)
# is within 5% of the population's on average (README "How many validation universes"); the
# split by hash leaves the same 6 training universes as 8 universes at 0.25 did.
DEMO_VAL_FRACTION ?= 0.34
data-demo: universes
	$(PY) -m exagan_tf.cosmo.slice_universes --input data/universes --output data/demo \
		--img-dim 64 --step 2 --val-fraction $(DEMO_VAL_FRACTION) --workers $(WORKERS)

data-raw: universes
	$(PY) -m exagan_tf.cosmo.slice_universes --input data/universes --output data/raw \
		--img-dim 128 --step 8 --workers $(WORKERS)

data: data-demo data-raw

demo: data-demo
	$(PY) -m exagan_tf.train demo $(RUN)
	$(PY) -m exagan_tf.analyze demo $(RUN)

# CMB: 1,200 lensed 64^2 maps over 5 deg (~40 s), then the original Test0-Test2 at CPU size
data/cmb/cmb_maps.h5: | venv
	$(PY) -m exagan_tf.cmb.simulate --out data/cmb/cmb_maps.h5 --count 1200 --npix 64

cmb-demo: data/cmb/cmb_maps.h5
	PYTHON=$(PY) experiments/cmb/cpu_table.sh

# SHiP muons: 16 ROOT files of 20k muons (file 15 deliberately rogue and excluded), 4 categories;
# the real dangerous muons of an independent production of 20M muons (about 1 min)
data-muons: venv
	@test -f data/muons/demo/transform.json || { \
		$(PY) -m exagan_tf.muons.simulate --out data/muons/production --files 16 --muons-per-file 20000 --rogue 15 && \
		$(PY) -m exagan_tf.muons.preprocess data/muons/production --out data/muons/demo --exclude muons_0015.root; }
	@test -f data/muons/dangerous_reference.npz || \
		$(PY) -m exagan_tf.muons.dangerous simulate --muons 20000000 --out data/muons/dangerous_reference.npz

# a GAN and a VAE per category (about 1 min each on 2 cores), the Gaussian mixture (1-2 min) and
# the spline flow (5-10 min), their FOM table, VAE and flow generation in the dangerous region of
# the prompt categories (the displaced ones have no dangerous muons)
muons-demo: data-muons
	for c in 1 2 3 4; do $(PY) -m exagan_tf.muons.train gan gan_demo $(RUN) --category $$c && \
		$(PY) -m exagan_tf.muons.train vae vae_demo $(RUN) --category $$c && \
		$(PY) -m exagan_tf.muons.train gmm gmm_demo $(RUN) --category $$c && \
		$(PY) -m exagan_tf.muons.train flow flow_demo $(RUN) --category $$c || exit 1; done
	$(PY) -m exagan_tf.muons.report --run $(RUN)
	for c in mup_prompt mum_prompt; do for k in vae flow; do r=expts/muon_$${k}_demo/run$(RUN)_$$c; \
		test -f $$r/dangerous_final_s1.json || $(PY) -m exagan_tf.muons.dangerous evaluate $$r \
		--reference data/muons/dangerous_reference.npz || exit 1; done; done

# Baryon painting: 64^3 N-body dark matter at 11 redshifts with painted gas pressure, eight
# training universes and one test universe (~1.7 min)
BARYON_FULL_TAGS := cvae cgan
BARYON_TAGS := cvae_demo cgan_demo cfm_demo cvae_holdout cgan_holdout cvae_test cgan_test cfm_test
# the data a tag trains on: baryons, muons (gan_*, vae_*), GR (gr_demo*), CMB (*_cpu; tiny and the
# full-size Test0-2 read their own data-dir), else ExaGAN's shards
TRAIN_DATA := $(if $(filter $(CONFIG),$(BARYON_FULL_TAGS)),data-baryons-full,\
	$(if $(filter $(CONFIG),$(BARYON_TAGS)),data-baryons,\
	$(if $(filter gan_% vae_%,$(CONFIG)),data-muons,\
	$(if $(filter gr_demo%,$(CONFIG)),data-gr,\
	$(if $(filter %_cpu,$(CONFIG)),data/cmb/cmb_maps.h5,\
	$(if $(filter gr_% Test% tiny,$(CONFIG)),venv,data))))))

data-baryons: venv
	@test -f data/baryons/baryon_maps.h5 || $(PY) -m exagan_tf.baryons.simulate --out data/baryons --seed $(SEED) \
		--train-universes 8

data-baryons-full: venv
	@test -f data/baryons_full/baryon_maps.h5 || $(PY) -m exagan_tf.baryons.simulate --out data/baryons_full \
		--npart 256 --box 400 --npix 2048 --sheets 8 --seed $(SEED)

# GR vs Newton: 96 seeds of paired 32^3 potentials at z = 20, 15, 10, 5, 1, 0 (six channels),
# fiducial and amplified A_s
GR_Z6 := --seeds 96 --ngrid 32 --input redshifts --redshifts 20 15 10 5 1 0
data/gr/demo_z6.h5: | venv
	$(PY) -m exagan_tf.gr.simulate --out $@ $(GR_Z6)

data/gr/demo_z6_amplified.h5: | venv
	$(PY) -m exagan_tf.gr.simulate --out $@ $(GR_Z6) --amplification 1e6

data-gr: data/gr/demo_z6.h5 data/gr/demo_z6_amplified.h5

gr-demo: data-gr
	for c in demo demo_penguin demo_amplified demo_amplified_penguin demo_newton05; do \
		$(PY) -m exagan_tf.gr.run_controller experiments/gr/$$c.yaml; done

train: $(TRAIN_DATA)
	$(PY) -m exagan_tf.cli train $(CONFIG) $(RUN)

analyze: venv
	$(PY) -m exagan_tf.cli analyze $(CONFIG) $(RUN)

tensorboard: venv
	$(BIN)/tensorboard --logdir expts

test: venv
	$(BIN)/lint-imports
	$(PY) -m pytest -q

test-slow: venv
	$(PY) -m pytest -q -m slow

# PyTorch only for the bench table's DCGAN peer (the `bench` extra)
$(VENV)/.bench: $(VENV)/.installed
	$(BIN)/pip install -q --disable-pip-version-check -e '.[$(EXTRAS),bench]'
	@touch $@

bench: $(VENV)/.bench
	$(PY) benchmarks/run_all.py --full-size

lint: venv
	$(BIN)/ruff check exagan_tf tests benchmarks
	$(BIN)/lint-imports

clean-venv:
	rm -rf $(VENV)
