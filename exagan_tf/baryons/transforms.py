"""The original's data transforms, stored as plain parameters (never as pickled code).

For dark matter and pressure alike (Tröster et al. 2019)::

    T(x) = ln(x / sigma(z) + 1) / 4 + shift,        x = sigma(z) (exp(4 (T - shift)) - 1),

with ``sigma(z)`` the standard deviation of the (summed, two-tile) training maps at redshift z,
tabulated at the training redshifts and interpolated linearly in ``ln sigma`` between them, and
``shift`` 0 for the CVAE and -1 for the CGAN (whose generator ends in tanh). The redshift enters
as a constant extra channel ``z + z_offset``: raw z for the CVAE (offset 0) and f(z) = z - 1 for
the CGAN, which balances the channel around 0 on z in [0, 2]. The conditional flow (``cfm``,
not in the original) takes T itself (shift 0) and the CGAN's z - 1.

A config may override ``shift`` (``transform_shift``): the output activations (the CGAN's tanh,
the CVAE's softplus) flatten out where the original shifts put T ~ 0, and in this suite's
simulated maps that is where 98% of the pixels lie (see ``experiments/baryons.yaml``).

A redshift outside the tabulated range is a :class:`~exagan_tf.errors.UserError`: the models
were never trained there and sigma(z) would be an extrapolation.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from exagan_tf.errors import UserError

#: (shift, z_offset) of each model family.
VARIANTS = {"cvae": (0.0, 0.0), "cgan": (-1.0, -1.0), "cfm": (0.0, -1.0)}


@dataclasses.dataclass(frozen=True)
class Transform:
    """Per-redshift log transforms of dark matter and pressure (see the module docstring).

    Attributes:
        redshifts: tabulated redshifts, increasing.
        dm_std, pressure_std: sigma(z) of the dark-matter and pressure maps at those redshifts.
        shift: added to T (0 for the CVAE, -1 for the CGAN).
        z_offset: added to z in the redshift channel (0 for the CVAE, -1 for the CGAN).
    """

    redshifts: tuple[float, ...]
    dm_std: tuple[float, ...]
    pressure_std: tuple[float, ...]
    shift: float = 0.0
    z_offset: float = 0.0

    def __post_init__(self):
        z = np.asarray(self.redshifts, dtype=np.float64)
        if z.ndim != 1 or z.size == 0 or np.any(np.diff(z) <= 0):
            raise UserError(f"transform redshifts {list(self.redshifts)}: expected increasing")
        for name in ("dm_std", "pressure_std"):
            s = np.asarray(getattr(self, name), dtype=np.float64)
            if s.shape != z.shape or not np.all(np.isfinite(s)) or np.any(s <= 0):
                raise UserError(f"transform {name} {list(s)}: expected {z.size} positive values")

    @classmethod
    def from_stats(
        cls, stats: dict, variant: str, redshifts: Sequence[float] | None = None,
        shift: float | None = None,
    ) -> Transform:
        """Build from the ``stats.json`` written by the simulator.

        Args:
            stats: dict with ``redshifts``, ``dm_std``, ``pressure_std``.
            variant: ``"cvae"`` or ``"cgan"``.
            redshifts: keep only these tabulated redshifts (a held-out redshift is then
                interpolated from its neighbours, as in the original's held-out test).
            shift: added to T instead of the variant's (None = the variant's: 0 or -1).
        """
        if variant not in VARIANTS:
            raise UserError(f"transform variant {variant!r}: expected one of {sorted(VARIANTS)}")
        z = np.asarray(stats["redshifts"], dtype=np.float64)
        keep = np.ones(z.size, bool)
        if redshifts is not None:
            keep = np.isin(np.round(z, 6), np.round(np.asarray(redshifts, float), 6))
            if keep.sum() != len(set(np.round(redshifts, 6))):
                raise UserError(f"redshifts {list(redshifts)}: not all are in the data's "
                                f"{z.tolist()}")
        shift0, z_offset = VARIANTS[variant]
        shift = shift0 if shift is None else float(shift)
        if not np.isfinite(shift):
            raise UserError(f"transform shift {shift}: expected a finite number")
        return cls(
            tuple(z[keep].tolist()),
            tuple(np.asarray(stats["dm_std"], float)[keep].tolist()),
            tuple(np.asarray(stats["pressure_std"], float)[keep].tolist()),
            shift,
            z_offset,
        )

    def to_dict(self) -> dict:
        """Plain dict (JSON-ready)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in
                dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict) -> Transform:
        """Inverse of :meth:`to_dict`."""
        return cls(tuple(d["redshifts"]), tuple(d["dm_std"]), tuple(d["pressure_std"]),
                   float(d["shift"]), float(d["z_offset"]))

    # -- sigma(z) -------------------------------------------------------------------------
    def check_redshift(self, z: float | np.ndarray) -> np.ndarray:
        """``z`` as a float64 array; UserError outside the tabulated range or not finite."""
        z = np.asarray(z, dtype=np.float64)
        lo, hi = self.redshifts[0], self.redshifts[-1]
        if not np.all(np.isfinite(z)) or np.any(z < lo - 1e-9) or np.any(z > hi + 1e-9):
            bad = z[~(np.isfinite(z) & (z >= lo - 1e-9) & (z <= hi + 1e-9))]
            raise UserError(f"redshift {float(bad.flat[0]):g} is outside the trained range "
                            f"[{lo:g}, {hi:g}]")
        return z

    def _sigma(self, table: Sequence[float], z) -> np.ndarray:
        z = self.check_redshift(z)
        return np.exp(np.interp(z, self.redshifts, np.log(np.asarray(table, dtype=np.float64))))

    def sigma_dm(self, z) -> np.ndarray:
        """sigma_dm(z), interpolated linearly in ln sigma."""
        return self._sigma(self.dm_std, z)

    def sigma_pressure(self, z) -> np.ndarray:
        """sigma_p(z), interpolated linearly in ln sigma."""
        return self._sigma(self.pressure_std, z)

    # -- the transforms (z scalar, or one value per leading-axis image) ----------------------
    @staticmethod
    def _per_image(sigma: np.ndarray, x: np.ndarray) -> np.ndarray:
        return sigma.reshape(sigma.shape + (1,) * (x.ndim - sigma.ndim))

    def _forward(self, x, sigma) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        return np.log1p(x / self._per_image(sigma, x)) / 4.0 + self.shift

    def _inverse(self, t, sigma) -> np.ndarray:
        t = np.asarray(t, dtype=np.float64)
        return self._per_image(sigma, t) * np.expm1(4.0 * (t - self.shift))

    def forward_dm(self, x, z) -> np.ndarray:
        """T(dark matter) at redshift z (scalar, or one per image along axis 0)."""
        return self._forward(x, self.sigma_dm(z))

    def inverse_dm(self, t, z) -> np.ndarray:
        """Dark matter from T."""
        return self._inverse(t, self.sigma_dm(z))

    def forward_pressure(self, x, z) -> np.ndarray:
        """T(pressure) at redshift z."""
        return self._forward(x, self.sigma_pressure(z))

    def inverse_pressure(self, t, z) -> np.ndarray:
        """Pressure from T."""
        return self._inverse(t, self.sigma_pressure(z))

    def redshift_channel(self, z) -> np.ndarray:
        """The value of the constant redshift channel: z + z_offset."""
        return self.check_redshift(z) + self.z_offset
