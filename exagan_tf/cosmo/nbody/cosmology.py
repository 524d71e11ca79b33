"""N-body cosmology: the four parameters, flat LambdaCDM growth and the linear power spectrum.

Parameters ``phys = (Omega_m, sigma_8, n_s, H_0)`` are drawn as CosmoFlow's four-parameter set,
``FIDUCIAL * (1 + PARAMETER_SPREAD * u)``; ``Omega_b = BARYON_FRACTION * Omega_m``. Growth ``D(a)``
in closed form with 2F1, ``f = dlnD/dlna`` from its derivative; linear power at z = 0 from CAMB
(transfer functions only) or the Eisenstein & Hu (1998) fit, normalised to sigma_8 with the same
top-hat integral. See :mod:`exagan_tf.cosmo.nbody` for the conventions.
"""

from __future__ import annotations

import functools

import numpy as np
from scipy.special import hyp2f1

from exagan_tf.errors import UserError

PARAMETER_NAMES = (b"Omega_m", b"sigma_8", b"N_spec", b"H_0")
FIDUCIAL = np.array([0.3, 0.8, 0.96, 70.0])
PARAMETER_SPREAD = 0.1  # physPar = FIDUCIAL * (1 + PARAMETER_SPREAD * u), u ~ U[-1, 1]
REDSHIFTS = (0.0, 0.5, 1.5, 3.0)  # CosmoFlow order: index 0 is z = 0
BARYON_FRACTION = 0.049 / 0.3  # Omega_b / Omega_m, fixed
T_CMB = 2.7255  # K
_CAMB_KMAX = 10.0  # h/Mpc; beyond it the spectrum is extrapolated as a power law in log-log
_TABLE_LNK = np.linspace(np.log(1e-5), np.log(1e3), 2400)  # table for P(k), ~0.8% steps in k


def draw_parameters(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Draw (Omega_m, sigma_8, n_s, H_0) as CosmoFlow does: fiducial * (1 + 0.1 u).

    Args:
        rng: a NumPy generator; four uniform numbers are taken from it.

    Returns:
        ``(phys, unit)``: float64 arrays of shape (4,): the physical values (H_0 in km/s/Mpc) and
        the unit values ``u`` in [-1, 1].
    """
    unit = rng.uniform(-1.0, 1.0, size=4)
    phys = FIDUCIAL * (1.0 + PARAMETER_SPREAD * unit)
    return phys, unit


def _efunc(a: np.ndarray, omega_m: float) -> np.ndarray:
    """H(a) / H0 for flat LambdaCDM without radiation."""
    return np.sqrt(omega_m / a**3 + (1.0 - omega_m))


def _growth_unnormalised(a: np.ndarray, omega_m: float) -> np.ndarray:
    # Exact growing mode of flat matter + Lambda; 2F1 is well defined for the negative argument.
    return a * hyp2f1(1.0 / 3.0, 1.0, 11.0 / 6.0, -(a**3) * (1.0 - omega_m) / omega_m)


def growth_factor(a: float | np.ndarray, omega_m: float) -> np.ndarray:
    """Linear growth factor D(a) of flat LambdaCDM, normalised to D(a=1) = 1.

    Args:
        a: scale factor(s), > 0.
        omega_m: matter density today (Omega_Lambda = 1 - omega_m).

    Returns:
        D(a), same shape as ``a``. D = a exactly for omega_m = 1 (Einstein-de Sitter).
    """
    a = np.asarray(a, dtype=np.float64)
    return _growth_unnormalised(a, omega_m) / _growth_unnormalised(np.float64(1.0), omega_m)


def growth_rate(a: float | np.ndarray, omega_m: float) -> np.ndarray:
    """Linear growth rate f = dln D / dln a of flat LambdaCDM (f = 1 in Einstein-de Sitter).

    Uses d 2F1(a, b; c; z)/dz = (ab/c) 2F1(a+1, b+1; c+1; z).
    """
    a = np.asarray(a, dtype=np.float64)
    z = -(a**3) * (1.0 - omega_m) / omega_m
    ratio = hyp2f1(4.0 / 3.0, 2.0, 17.0 / 6.0, z) / hyp2f1(1.0 / 3.0, 1.0, 11.0 / 6.0, z)
    return 1.0 + 3.0 * z * (2.0 / 11.0) * ratio


def _omega_m_of_a(a: np.ndarray, omega_m: float) -> np.ndarray:
    return omega_m / a**3 / _efunc(a, omega_m) ** 2


def _momentum_growth(a: np.ndarray, omega_m: float) -> np.ndarray:
    """G_p(a) = a^3 E dD/da = a^2 E f D: momentum p = a^2 dx/dt per unit linear displacement."""
    a = np.asarray(a, dtype=np.float64)
    return a**2 * _efunc(a, omega_m) * growth_rate(a, omega_m) * growth_factor(a, omega_m)


def _tophat_sigma(lnk: np.ndarray, power: np.ndarray, radius: float) -> float:
    """RMS linear overdensity in a top-hat sphere of ``radius`` Mpc/h (trapezoid in ln k)."""
    x = np.exp(lnk) * radius
    window = 3.0 * (np.sin(x) - x * np.cos(x)) / x**3
    integrand = np.exp(lnk) ** 3 * power * window**2 / (2.0 * np.pi**2)
    return float(np.sqrt(np.trapezoid(integrand, lnk)))


def _eh_transfer(k: np.ndarray, omega_m: float, omega_b: float, h: float) -> np.ndarray:
    """Eisenstein & Hu (1998, ApJ 496, 605) matter transfer function with baryon oscillations.

    Args:
        k: wavenumbers in h/Mpc.
        omega_m, omega_b: density parameters today; h = H0 / 100.
    """
    kmpc = np.asarray(k, dtype=np.float64) * h  # the fit is written in 1/Mpc
    om_h2, ob_h2 = omega_m * h * h, omega_b * h * h
    f_b = omega_b / omega_m
    f_c = 1.0 - f_b
    theta = T_CMB / 2.7
    z_eq = 2.50e4 * om_h2 * theta**-4
    k_eq = 7.46e-2 * om_h2 * theta**-2
    b1 = 0.313 * om_h2**-0.419 * (1.0 + 0.607 * om_h2**0.674)
    b2 = 0.238 * om_h2**0.223
    z_d = 1291.0 * om_h2**0.251 / (1.0 + 0.659 * om_h2**0.828) * (1.0 + b1 * ob_h2**b2)
    r_d = 31.5 * ob_h2 * theta**-4 * (1000.0 / z_d)
    r_eq = 31.5 * ob_h2 * theta**-4 * (1000.0 / z_eq)
    s = (2.0 / (3.0 * k_eq) * np.sqrt(6.0 / r_eq)
         * np.log((np.sqrt(1.0 + r_d) + np.sqrt(r_d + r_eq)) / (1.0 + np.sqrt(r_eq))))
    k_silk = 1.6 * ob_h2**0.52 * om_h2**0.73 * (1.0 + (10.4 * om_h2) ** -0.95)
    q = kmpc / (13.41 * k_eq)

    a1 = (46.9 * om_h2) ** 0.670 * (1.0 + (32.1 * om_h2) ** -0.532)
    a2 = (12.0 * om_h2) ** 0.424 * (1.0 + (45.0 * om_h2) ** -0.582)
    alpha_c = a1**-f_b * a2 ** (-(f_b**3))
    bb1 = 0.944 / (1.0 + (458.0 * om_h2) ** -0.708)
    bb2 = (0.395 * om_h2) ** -0.0266
    beta_c = 1.0 / (1.0 + bb1 * (f_c**bb2 - 1.0))

    def t0(alpha: float, beta: float) -> np.ndarray:
        ln = np.log(np.e + 1.8 * beta * q)
        c = 14.2 / alpha + 386.0 / (1.0 + 69.9 * q**1.08)
        return ln / (ln + c * q * q)

    ks = kmpc * s
    f = 1.0 / (1.0 + (ks / 5.4) ** 4)
    t_cdm = f * t0(1.0, beta_c) + (1.0 - f) * t0(alpha_c, beta_c)

    y = (1.0 + z_eq) / (1.0 + z_d)
    sy = np.sqrt(1.0 + y)
    g = y * (-6.0 * sy + (2.0 + 3.0 * y) * np.log((sy + 1.0) / (sy - 1.0)))
    alpha_b = 2.07 * k_eq * s * (1.0 + r_d) ** -0.75 * g
    beta_node = 8.41 * om_h2**0.435
    beta_b = 0.5 + f_b + (3.0 - 2.0 * f_b) * np.sqrt((17.2 * om_h2) ** 2 + 1.0)
    s_tilde = s / (1.0 + (beta_node / ks) ** 3) ** (1.0 / 3.0)
    t_bar = (t0(1.0, 1.0) / (1.0 + (ks / 5.2) ** 2)
             + alpha_b / (1.0 + (beta_b / ks) ** 3) * np.exp(-((kmpc / k_silk) ** 1.4)))
    t_bar = t_bar * np.sinc(kmpc * s_tilde / np.pi)  # j0(x) = sin(x)/x = np.sinc(x/pi)
    return f_b * t_bar + f_c * t_cdm


def _camb_table(omega_m: float, n_s: float, h0: float) -> tuple[np.ndarray, np.ndarray]:
    """ln k [h/Mpc] and ln P(k) [(Mpc/h)^3, arbitrary amplitude] at z = 0 from CAMB."""
    import camb  # imported lazily: only the CAMB method needs it
    from camb import model

    h = h0 / 100.0
    omega_b = BARYON_FRACTION * omega_m
    pars = camb.CAMBparams()
    pars.set_cosmology(H0=h0, ombh2=omega_b * h * h, omch2=(omega_m - omega_b) * h * h,
                       mnu=0.0, omk=0.0, TCMB=T_CMB)
    pars.InitPower.set_params(As=2.1e-9, ns=n_s)
    # Transfer functions only (no CMB spectra); set_matter_power takes kmax in 1/Mpc.
    pars.set_matter_power(redshifts=[0.0], kmax=_CAMB_KMAX * h)
    pars.WantCls = False
    pars.NonLinear = model.NonLinear_none
    results = camb.get_transfer_functions(pars)
    kh, _, pk = results.get_linear_matter_power_spectrum(hubble_units=True, k_hunit=True)
    return np.log(kh), np.log(pk[0])


@functools.lru_cache(maxsize=64)
def _power_table(omega_m: float, sigma8: float, n_s: float, h0: float,
                 method: str) -> tuple[np.ndarray, np.ndarray]:
    """ln P on the fixed ln k grid ``_TABLE_LNK``, normalised to sigma8 (cached per process)."""
    lnk = _TABLE_LNK
    if method == "camb":
        lnk_c, lnp_c = _camb_table(omega_m, n_s, h0)
        lnp = np.interp(lnk, lnk_c, lnp_c)
        # Outside CAMB's range: primordial slope n_s at low k (T -> 1), and the local log-log
        # slope of the last tenth of a decade at high k (T ~ ln k / k^2 varies slowly there).
        low = lnk < lnk_c[0]
        lnp[low] = lnp_c[0] + n_s * (lnk[low] - lnk_c[0])
        tail = lnk_c > lnk_c[-1] - 0.1 * np.log(10.0)
        slope = np.polyfit(lnk_c[tail], lnp_c[tail], 1)[0]
        high = lnk > lnk_c[-1]
        lnp[high] = lnp_c[-1] + slope * (lnk[high] - lnk_c[-1])
    elif method == "eh":
        k = np.exp(lnk)
        t = _eh_transfer(k, omega_m, BARYON_FRACTION * omega_m, h0 / 100.0)
        lnp = n_s * lnk + 2.0 * np.log(t)
    else:
        raise UserError(f"linear power method {method!r}: expected 'camb' or 'eh'")
    lnp = lnp + 2.0 * np.log(sigma8 / _tophat_sigma(lnk, np.exp(lnp), 8.0))
    lnp.setflags(write=False)
    return lnk, lnp


def linear_power(k: np.ndarray, omega_m: float, sigma8: float, n_s: float, h0: float,
                 method: str = "camb") -> np.ndarray:
    """Linear matter power spectrum at z = 0, normalised to ``sigma8``.

    Args:
        k: wavenumbers in h/Mpc (any shape; k <= 0 gives P = 0).
        omega_m: matter density today (baryons are ``BARYON_FRACTION`` of it; flat).
        sigma8: rms linear overdensity in 8 Mpc/h top-hat spheres at z = 0.
        n_s: primordial spectral index.
        h0: Hubble constant H_0 in km/s/Mpc (e.g. 70).
        method: ``"camb"`` (CAMB transfer functions) or ``"eh"`` (Eisenstein & Hu 1998 fit with
            baryon wiggles).

    Returns:
        P(k) in (Mpc/h)^3, float64, same shape as ``k``. The table behind it is cached per
        parameter set, so repeated calls cost one interpolation.
    """
    lnk_t, lnp_t = _power_table(float(omega_m), float(sigma8), float(n_s), float(h0), method)
    k = np.asarray(k, dtype=np.float64)
    out = np.zeros_like(k)
    pos = k > 0
    out[pos] = np.exp(np.interp(np.log(k[pos]), lnk_t, lnp_t))
    return out
