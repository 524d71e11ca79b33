"""What a baryon-painting run is judged by while it trains: per monitored redshift the
pressure auto- and cross-spectrum errors and 1 - r(painted, truth) on fixed independent test
pairs (the statistics of :mod:`exagan_tf.baryons.evaluate`), the pixel KS distance, and the
figures of tiles and spectra. The best models are kept by ``BEST_KEYS``. Beside them
``cpu_seconds``, the CPU time of the training process so far (all threads, the monitor's own
included; a resumed run counts from its restart): the x axis on which models of different
speeds are compared at equal cost, on a shared machine where wall-clock time is not one.
"""

from __future__ import annotations

import time

import numpy as np

BEST_KEYS = ("pk_auto_err", "one_minus_r")



def monitor_statistics(dm: np.ndarray, z: np.ndarray, pixel: float):
    """``(val, gen) -> dict`` for the SampleMonitor: per monitored redshift the auto and cross
    spectrum errors and 1 - r(pred, truth), averaged over redshifts, plus the pixel KS and
    the process's CPU seconds."""
    from exagan_tf.baryons import evaluate as ev

    def stats_fn(val, gen):
        out = {"pk_auto_err": 0.0, "pk_cross_err": 0.0, "one_minus_r": 0.0, "pixel_ks": 0.0}
        zs = np.unique(z)
        for zi in zs:
            sel = z == zi
            m = ev.compare(dm[sel], val[sel], gen[sel], pixel)
            out["pk_auto_err"] += m["auto_err_mean"] / zs.size
            out["pk_cross_err"] += m["cross_err_mean"] / zs.size
            out["one_minus_r"] += (1.0 - m["r_pred_truth_mean"]) / zs.size
            out["pixel_ks"] += m["ks"] / zs.size
        out["cpu_seconds"] = time.process_time()
        return out

    return stats_fn


def tiles_figure(val, gen, n: int = 4):
    """Truth (top) and painted (bottom) tiles, log10 pressure."""
    from exagan_tf.core.plots import image_grid

    n = min(n, len(val))
    floor = max(float(np.percentile(val[val > 0], 1)) if np.any(val > 0) else 1e-12, 1e-12)
    imgs = np.log10(np.maximum(np.concatenate([val[:n], gen[:n]]), floor))
    return image_grid(imgs, ncols=n, title="log10 pressure: truth (top), painted (bottom)",
                      cmap="magma")


def spectra_figure(dm: np.ndarray, z: np.ndarray, pixel: float):
    """``(val, gen) -> Figure``: stack-mean pressure auto spectra, truth against painted, per
    monitored redshift."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from exagan_tf.baryons import evaluate as ev

    def make(val, gen):
        fig = Figure(figsize=(5, 3.6), layout="constrained")
        FigureCanvasAgg(fig)
        ax = fig.subplots()
        for i, zi in enumerate(np.unique(z)):
            sel = z == zi
            t = ev.spectra(dm[sel], val[sel], pixel)
            g = ev.spectra(dm[sel], gen[sel], pixel)
            ax.loglog(t["k"], t["auto"], color=f"C{i}", label=f"truth z={zi:g}")
            ax.loglog(g["k"], np.abs(g["auto"]), color=f"C{i}", ls="--", label="painted")
        ax.set_xlabel("k [h/Mpc]")
        ax.set_ylabel("P_pressure(k)")
        ax.legend(fontsize=7)
        return fig

    return make
