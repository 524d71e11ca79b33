"""SHiP muon background: a weighted muon source, ROOT I/O, preprocessing, dense GAN / VAE, a BDT
figure of merit and fast generation (issue 6; the original is alexmarshallbristol/
Generative_Networks).

Modules: :mod:`simulate` (muon source), :mod:`rootio` (FairShip's pythia8-Geant4 files, read
and write), :mod:`cbmsim` (FairShip's simulation output: muons at the veto), :mod:`fairship_bind`
(a file read as MuonBackGenerator binds it), :mod:`preprocess` (categories, min-max,
broadening, weighted batches), :mod:`models` (GAN and VAE builders),
:mod:`fom` (BDT figure of merit), :mod:`train` (CLIs over the shared loops), :mod:`report`
(the FOM table of trained runs), :mod:`generate` (Poisson-mixed generation to ROOT),
:mod:`dangerous` (VAE generation in the dangerous region, its enrichment and fidelity).
"""
