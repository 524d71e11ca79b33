"""The classical baseline of the muon generators: a weighted Gaussian mixture per category.

What a physicist would fit without a network: ``components`` (64) full-covariance Gaussians of
the preprocessed features (the space every muon model learns, [-1, 1]), fitted to the
**weighted** distribution by expectation-maximisation.

**Weighted EM** (:func:`fit_weighted_mixture`). scikit-learn's ``GaussianMixture`` takes no
sample weights. It is used for the start (its k-means initialisation and EM, fitted on
``init_rows`` rows drawn by weight) and for the E-step (``predict_proba``, the
responsibilities r_ik); the M-step is the weighted one, written here on all training rows:

    n_k = sum_i w_i r_ik,  pi_k = n_k / sum_k n_k,  mu_k = sum_i w_i r_ik x_i / n_k,
    Sigma_k = sum_i w_i r_ik (x_i - mu_k)(x_i - mu_k)^T / n_k + reg_covar I,

iterated until the weighted mean log-likelihood gains less than ``tol`` (1e-3, scikit-learn's
default) per iteration. Weighting
the M-step rather than resampling: every row enters once with its weight (resampling by weight
repeats the heavy rows and drops light ones; the weights' effective sample size is 16-65k of
53-86k rows here), and the fitted parameters are a deterministic function of the data.

**Saved as parameters** (:func:`save_mixture`, :func:`load_mixture`): ``models/gmm.npz`` with
``weights`` (K,), ``means`` (K, d), ``covariances`` (K, d, d), the category and feature names;
loaded with ``allow_pickle=False``. No pickle.

**Sampling** (:class:`GaussianMixtureSampler`): a draw of d + 1 standard normals per muon
(the ``latent`` of :func:`exagan_tf.muons.generate.generate_to_root`): the last, through the
normal CDF, picks the component by the inverse CDF of the mixture weights; the first d give
x = mu_k + L_k eps with L_k the Cholesky factor of Sigma_k.

    python -m exagan_tf.muons.train gmm gmm_demo RUN --category CAT
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from exagan_tf.errors import UserError
from exagan_tf.muons.config import MuonGMMConfig


def _cholesky(cov: np.ndarray, where: str) -> np.ndarray:
    try:
        return np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        raise UserError(f"{where}: a covariance is not positive definite") from None


def _set_parameters(gm, weights, means, covs, where: str = "mixture") -> None:
    """Put parameters into a scikit-learn ``GaussianMixture`` (full covariance)."""
    from scipy.linalg import solve_triangular

    chol = _cholesky(covs, where)
    eye = np.eye(means.shape[1])
    gm.weights_, gm.means_, gm.covariances_ = weights, means, covs
    gm.precisions_cholesky_ = np.stack(
        [solve_triangular(c, eye, lower=True).T for c in chol]
    )
    gm.precisions_ = np.einsum("kij,klj->kil", gm.precisions_cholesky_, gm.precisions_cholesky_)


def weighted_m_step(x: np.ndarray, w: np.ndarray, resp: np.ndarray, reg_covar: float):
    """(weights, means, covariances) maximising the weighted expected log-likelihood for
    responsibilities ``resp`` (n, K) and row weights ``w`` (n,) (module notes)."""
    rw = resp * w[:, None]
    nk = rw.sum(0) + 10 * np.finfo(np.float64).eps
    means = rw.T @ x / nk[:, None]
    d = x.shape[1]
    covs = np.empty((len(nk), d, d))
    for k in range(len(nk)):
        diff = x - means[k]
        covs[k] = (rw[:, k, None] * diff).T @ diff / nk[k] + reg_covar * np.eye(d)
    return nk / nk.sum(), means, covs


def fit_weighted_mixture(
    x: np.ndarray,
    w: np.ndarray,
    components: int = 64,
    max_iter: int = 200,
    tol: float = 1e-3,
    reg_covar: float = 1e-6,
    init_rows: int = 20_000,
    seed: int = 0,
    log=None,
):
    """A scikit-learn ``GaussianMixture`` fitted to the weighted rows by weighted EM (module
    notes). Returns (mixture, iterations, weighted mean log-likelihood per iteration). One
    BLAS/OpenMP thread: on the shared 2-core machine more threads busy-wait (as the FOM's)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        return _fit_weighted_mixture(x, w, components, max_iter, tol, reg_covar, init_rows,
                                     seed, log)


def _fit_weighted_mixture(x, w, components, max_iter, tol, reg_covar, init_rows, seed, log):
    from sklearn.mixture import GaussianMixture

    from exagan_tf.muons.preprocess import WeightedSampler, check_weights

    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    check_weights(w, "Gaussian mixture")
    if x.ndim != 2 or len(x) != len(w):
        raise UserError(f"Gaussian mixture: features {x.shape} and weights {w.shape} differ")
    if len(x) < components:
        raise UserError(f"Gaussian mixture: {len(x)} rows for {components} components")
    w = w / w.mean()
    start = x[WeightedSampler(w, seed).indices(min(init_rows, len(x)))]
    gm = GaussianMixture(components, covariance_type="full", reg_covar=reg_covar,
                         max_iter=20, random_state=seed)
    gm.fit(start)
    history = []
    it = 0
    for it in range(1, max_iter + 1):
        resp = gm.predict_proba(x)
        _set_parameters(gm, *weighted_m_step(x, w, resp, reg_covar))
        history.append(float(np.average(gm.score_samples(x), weights=w)))
        if log is not None and (it % 10 == 0 or it == 1):
            log(f"EM iteration {it}: weighted mean log-likelihood {history[-1]:.5f}")
        if it > 1 and abs(history[-1] - history[-2]) < tol:
            break
    return gm, it, history


def save_mixture(path: str | Path, gm, category: str, features) -> None:
    """Write the mixture's parameters to ``.npz`` atomically (never overwriting)."""
    from exagan_tf.fileio import atomic_path

    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, weights=gm.weights_, means=gm.means_, covariances=gm.covariances_,
                     category=np.str_(category), features=np.array(list(features), dtype=str))


class GaussianMixtureSampler:
    """A mixture from its parameters: log density (scikit-learn's, for checks) and fast
    sampling as a generator of :func:`~exagan_tf.muons.generate.generate_to_root` (module
    notes)."""

    def __init__(self, weights, means, covariances, category: str = "", features=()):
        self.weights = np.asarray(weights, np.float64)
        self.means = np.asarray(means, np.float64)
        self.covariances = np.asarray(covariances, np.float64)
        k, d = self.means.shape
        if self.weights.shape != (k,) or self.covariances.shape != (k, d, d):
            raise UserError(f"mixture: weights {self.weights.shape}, means {self.means.shape}, "
                            f"covariances {self.covariances.shape} do not agree")
        if np.any(self.weights < 0) or not np.isclose(self.weights.sum(), 1.0, atol=1e-6):
            raise UserError("mixture: weights must be >= 0 and sum to 1")
        self.chol = _cholesky(self.covariances, "mixture")
        self.cdf = np.cumsum(self.weights) / self.weights.sum()
        self.category, self.features = str(category), tuple(str(f) for f in features)
        self.dim, self.latent = d, d + 1

    def score_samples(self, x: np.ndarray) -> np.ndarray:
        """log p(x) per row."""
        from sklearn.mixture import GaussianMixture

        gm = GaussianMixture(len(self.weights), covariance_type="full")
        _set_parameters(gm, self.weights, self.means, self.covariances)
        return gm.score_samples(np.asarray(x, np.float64))

    def __call__(self, z: np.ndarray) -> np.ndarray:
        """Standard normals (m, d + 1) -> mixture draws (m, d)."""
        from scipy.special import ndtr

        z = np.asarray(z, np.float64)
        comp = np.minimum(np.searchsorted(self.cdf, ndtr(z[:, -1]), side="right"),
                          len(self.cdf) - 1)
        return self.means[comp] + np.einsum("nij,nj->ni", self.chol[comp], z[:, :-1])

    def sample(self, n: int, seed: int = 0) -> np.ndarray:
        """``n`` draws."""
        return self(np.random.default_rng(seed).standard_normal((n, self.latent)))


def load_mixture(path: str | Path) -> GaussianMixtureSampler:
    """The mixture saved by :func:`save_mixture`; a missing, damaged or inconsistent file is a
    one-line :class:`UserError`."""
    import zipfile

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such mixture file; has the run been fitted?")
    if not zipfile.is_zipfile(path):
        raise UserError(f"{path}: not an .npz archive of mixture parameters")
    keys = ("weights", "means", "covariances", "category", "features")
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in keys if k not in f.files]
            if missing:
                raise UserError(f"{path}: no array '{missing[0]}'; not a mixture file")
            arrays = {k: f[k] for k in keys}
    except (OSError, ValueError) as e:
        raise UserError(f"{path}: unreadable ({e})") from None
    if not all(np.all(np.isfinite(arrays[k])) for k in ("weights", "means", "covariances")):
        raise UserError(f"{path}: NaN or infinite parameters")
    try:
        return GaussianMixtureSampler(arrays["weights"], arrays["means"], arrays["covariances"],
                                      str(arrays["category"]), arrays["features"])
    except UserError as e:
        raise UserError(f"{path}: {e}") from None


def train_gmm(cfg: MuonGMMConfig, tag: str, folder: str, rid: str, expts: Path,
              command: list[str], monitor_cls) -> Path:
    """Fit the mixture of ``cfg.category`` into the run ``expts/FOLDER/runRID`` and judge it
    by the FOM of the GAN/VAE runs (``monitor_cls``: their
    :class:`~exagan_tf.muons.train.FomMonitor`; ``fom_floor.json``, ``models/final.json``); a
    fitted run is left as it is."""
    from exagan_tf.core.trainer import Lifecycle, tag_run
    from exagan_tf.fileio import write_json_atomic
    from exagan_tf.muons import preprocess as pp

    cat = pp.get_category(cfg.category)
    x, w = pp.load_category(cfg.datadir, cat.name)
    (x_tr, w_tr), (x_val, w_val) = pp.split_train_val(x, w, cfg.val_fraction)
    life = Lifecycle(cfg, *tag_run(cfg, folder, rid, expts, command), "exagan_tf.muons")
    run, log = life.run, life.log
    run.models.mkdir(parents=True, exist_ok=True)
    if (run.models / "final.json").exists():
        log.info(f"{run.path}: already fitted; nothing to do")
        return run.path
    life.record({"kind": "gmm", "config_tag": tag, "category": cat.name,
                 "n_train": len(x_tr), "n_val": len(x_val)})
    monitor = monitor_cls(cfg, cfg.seed, (x_tr, w_tr), (x_val, w_val))
    n_fom = cfg.bdt_train_size + cfg.bdt_test_size
    val = monitor.real  # the held-out sample every generator is judged against
    if not (run.path / "fom_floor.json").exists():
        write_json_atomic(run.path / "fom_floor.json", monitor.floor())
    log.info(f"run {run.path} | gmm {cat.name} ({cat.dim}-D) | {cfg.components} components | "
             f"{len(x_tr)} train, {len(x_val)} held out")
    t0 = time.perf_counter()
    gm, iters, history = fit_weighted_mixture(
        x_tr, w_tr, cfg.components, cfg.max_iter, cfg.tol, cfg.reg_covar, cfg.init_rows,
        cfg.seed, log.info)
    seconds = time.perf_counter() - t0
    save_mixture(run.models / "gmm.npz", gm, cat.name, cat.features)
    sampler = load_mixture(run.models / "gmm.npz")
    gen = np.clip(sampler.sample(n_fom, cfg.seed + 777), -1.0, 1.0)
    stats = monitor(val, gen)
    write_json_atomic(run.models / "final.json",
                      {"step": iters, "train_seconds": seconds, "loglik": history[-1], **stats})
    log.info(f"done: {iters} EM iterations in {seconds:.1f} s | "
             + " ".join(f"{k}={v:.4g}" for k, v in stats.items()))
    return run.path
