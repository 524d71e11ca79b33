"""Small particle-mesh (PM) N-body universes written in the CosmoFlow HDF5 layout.

A package of one job per module: :mod:`.cosmology` (parameters, growth, linear power),
:mod:`.fourier` (grids and FFT helpers), :mod:`.ics` (Gaussian field, 2LPT), :mod:`.deposit`
(CIC and NGP mass assignment), :mod:`.pm` (time steps, forces, the simulation), :mod:`.stats`
(power spectrum), :mod:`.io` (universe files), :mod:`.cli` (command line). Every name is
re-exported here, so ``from exagan_tf.cosmo import nbody; nbody.run_simulation(...)`` works.

The CosmoFlow cubes that ExaGAN was trained on cannot be downloaded, so this module makes
universes of the same kind: dark-matter particle counts per voxel at z = 0, 0.5, 1.5 and 3 in a
periodic box, for cosmological parameters drawn like the original four-parameter set.

Physics and conventions
-----------------------
* Flat LambdaCDM with matter and a cosmological constant (radiation is neglected in the
  dynamics). Units: lengths in Mpc/h, wavenumbers in h/Mpc, power in (Mpc/h)^3, time in 1/H0.
* Parameters ``phys = (Omega_m, sigma_8, n_s, H_0)``, H_0 in km/s/Mpc. The baryon density is a
  fixed fraction of the matter density, ``Omega_b = BARYON_FRACTION * Omega_m`` with
  ``BARYON_FRACTION = 0.049 / 0.3`` (Planck-like Omega_b = 0.049 at the fiducial Omega_m = 0.3),
  so the baryon features move with Omega_m; neutrinos are massless.
* Linear power at z = 0 from CAMB (transfer functions only, no CMB) or from the Eisenstein & Hu
  (1998) fitting formula with baryon wiggles, always normalised here to the requested sigma_8 with
  the same top-hat integral (R = 8 Mpc/h).
* Linear growth ``D(a)`` of flat LambdaCDM in closed form, ``D ∝ a 2F1(1/3, 1; 11/6;
  -a^3 Omega_L/Omega_m)``, normalised to D(1) = 1; ``f = dlnD/dlna`` from the derivative of 2F1.
* Initial conditions: a Gaussian field on the particle lattice (white noise from
  ``numpy.random.default_rng``) moved by second-order Lagrangian perturbation theory (2LPT) at
  ``z_init`` (default 24). Particle ``(i, j, k)`` starts from lattice point ``(i, j, k) L/Np``.
* Dynamics: kick-drift-kick leapfrog in the scale factor with the FastPM kick and drift factors
  (Feng et al. 2016), which make linear growth exact on large scales for any step size. Gravity
  from an FFT Poisson solve on a force mesh ``mesh_factor`` (default 2) times finer than the
  particle lattice per dimension: CIC deposit, exact 1/k^2 Green's function, central-difference
  gradient (see :func:`_pm_force` for why not ``i k``), CIC interpolation.
* Time steps are uniform in ``a`` within each interval between snapshots, with the steps shared
  out in proportion to the interval's length in ``a``, so snapshots fall exactly on step edges.
* Output counts: nearest-grid-point (NGP) particle counts per voxel, voxel ``(i, j, k)`` centred on
  ``(i, j, k) * L/N``. NGP counts are the number of particles in a voxel, integers by
  construction, so the total is the particle number exactly in every snapshot. The optional
  ``deposit="cic"`` spreads particles with CIC and rounds conservatively (largest remainder).

File layout (as CosmoFlow ``cosmoUniverse_2019_05_4parE``; HDF5 datasets, not attributes)
-------------------------------------------------------------------------------------------
``full``       (N, N, N, 4) int16 particle counts per voxel, last axis redshift [0, 0.5, 1.5, 3.0]
``redshifts``  float32 (4,) [0, 0.5, 1.5, 3.0]
``namePar``    bytes (4,) [b'Omega_m', b'sigma_8', b'N_spec', b'H_0']
``physPar``    float32 (4,) physical parameter values
``unitPar``    float32 (4,) u in [-1, 1], ``physPar = fiducial * (1 + 0.1 u)``
Provenance (box size, seed, index, grid sizes, steps, z_init, method, code version) is stored as
file attributes only. ``full`` is chunked (1, N, N, 4) so that reading every k-th slice along axis
0 touches only those slices, and gzip-1 compressed with the byte shuffle filter.

Files are named ``univ_<seed>_<index:05d>.h5``; universe ``index`` of run ``seed`` is made from
``numpy.random.SeedSequence([seed, index])`` alone, so the files do not depend on the worker
count or on which other universes were made.

Command line::

    python -m exagan_tf.cosmo.nbody --out data/universes --count 8 --ngrid 128 --seed 0 --workers 2

Defaults, chosen by measurement at 128^3 particles in 128 Mpc/h (against 60 steps): 30 steps and
mesh_factor 2 keep the z = 0 count power spectrum within 1.6 % up to k = 3 h/Mpc (3.4 % at
z = 1.5); 20 steps lose 4 % (11 % at z = 1.5); mesh_factor 1.5 and 1 lose 22 % and 47 % at
k = 3 h/Mpc, and the largest count per 1 (Mpc/h)^3 voxel at z = 0 drops from ~1900 to ~1400.
Cost: ~50 s of one core per universe at the default (2 cores: ~2 universes/minute with
``--workers 2``); peak memory 0.7 GB. Memory grows 8x per doubling of ngrid: ~3.6 GB at 256^3,
so 512^3 needs ~29 GB at mesh_factor 2, or ~12 GB with ``--mesh-factor 1``.
"""


from __future__ import annotations

from exagan_tf.cosmo.nbody.cli import (  # noqa: F401
    _worker,
    main,
    make_universe,
    universe_rngs,
)
from exagan_tf.cosmo.nbody.cosmology import (  # noqa: F401
    _CAMB_KMAX,
    _TABLE_LNK,
    BARYON_FRACTION,
    FIDUCIAL,
    PARAMETER_NAMES,
    PARAMETER_SPREAD,
    REDSHIFTS,
    T_CMB,
    _camb_table,
    _efunc,
    _eh_transfer,
    _growth_unnormalised,
    _momentum_growth,
    _omega_m_of_a,
    _power_table,
    _tophat_sigma,
    draw_parameters,
    growth_factor,
    growth_rate,
    linear_power,
)
from exagan_tf.cosmo.nbody.deposit import (  # noqa: F401
    _CHUNK,
    _cic_cells,
    _cic_gather,
    _cic_weights,
    _pad_periodic,
    _to_int16,
    cic_deposit,
    cic_interpolate,
    conservative_round,
    ngp_counts,
)
from exagan_tf.cosmo.nbody.fourier import (  # noqa: F401
    _fft_kwargs,
    _gradient_wavenumbers,
    _inverse_k2,
    _inverse_laplacian,
    _wavenumbers,
)
from exagan_tf.cosmo.nbody.ics import (  # noqa: F401
    _lpt_component,
    _lpt_potentials,
    gaussian_field,
    lpt_displacements,
)
from exagan_tf.cosmo.nbody.io import (  # noqa: F401
    FILE_PATTERN,
    read_universe,
    universe_filename,
    write_universe,
)
from exagan_tf.cosmo.nbody.pm import (  # noqa: F401
    DEFAULT_MESH_FACTOR,
    DEFAULT_NSTEPS,
    DEFAULT_Z_INIT,
    Simulation,
    _cic_contrast,
    _pm_force,
    run_simulation,
    simulate_universe,
    time_steps,
)
from exagan_tf.cosmo.nbody.stats import (  # noqa: F401
    density_contrast,
    power_spectrum_3d,
)
