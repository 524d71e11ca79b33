"""The yardsticks of ExaGAN statistics: reference spread over universes, floors from the same and
from independent universes, and the P(k) scatter against the number of universes."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from exagan_tf.core import stats
from exagan_tf.cosmo import yardsticks as ys
from exagan_tf.errors import UserError


def rates(rng, n, dim):
    """Smooth, heavy-tailed positive fields (n, dim, dim), mean about 6."""
    white = rng.standard_normal((n, dim, dim))
    k = np.fft.fftfreq(dim)
    kk = np.sqrt(k[:, None] ** 2 + k[None, :] ** 2)
    smooth = np.fft.ifft2(np.fft.fft2(white) * np.exp(-((kk / 0.15) ** 2))).real
    return 3.0 * np.exp(1.2 * smooth / smooth.std())


def write_universes(root, amplitudes: dict[str, list[float]], n_per=32, dim=16, seed=0):
    """Shards of universes as slice_universes orders them: neighbouring images are two Poisson
    draws of one field (as neighbouring slices share their structures), and one amplitude per
    universe scales its fluctuations (as sigma8 does): {split: [amplitude of each universe]}."""
    rng = np.random.default_rng(seed)
    for split, amps in amplitudes.items():
        folder = root / "d" / split
        folder.mkdir(parents=True, exist_ok=True)
        for i, a in enumerate(amps):
            field = np.repeat(rates(rng, n_per // 2, dim) ** a, 2, axis=0)
            with h5py.File(folder / f"{split}{i}.h5", "w") as f:
                f.create_dataset("data", data=rng.poisson(field).astype(np.int16))
                f.attrs["source"] = f"univ_{split}_{i}.h5"
    return root


def write_labelled(root, split, n_files, n_per, dim=4):
    """Constant images whose value is 1000 * file + index, to see which images were read."""
    folder = root / "d" / split
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for i in range(n_files):
        path = folder / f"u{i}.h5"
        values = 1000 * i + np.arange(n_per)
        with h5py.File(path, "w") as f:
            f.create_dataset("data", data=np.broadcast_to(
                values[:, None, None], (n_per, dim, dim)).astype(np.int16))
        files.append(path)
    return files


def labels(images):
    return images[:, 0, 0].astype(int).tolist()


def test_spread_takes_equal_shares_evenly_spaced(tmp_path):
    files = write_labelled(tmp_path, "val", 3, 10)
    images, owner = ys.read_spread(files, 6, 4)
    assert labels(images) == [0, 5, 1000, 1005, 2000, 2005]
    assert owner.tolist() == [0, 0, 1, 1, 2, 2]
    # a remainder goes to the first files; more than there is reads everything in file order
    assert labels(ys.read_spread(files, 7, 4)[0]) == [0, 3, 6, 1000, 1005, 2000, 2005]
    every, _ = ys.read_spread(files, 100, 4)
    assert labels(every) == [1000 * i + j for i in range(3) for j in range(10)]
    # a small file gives what it has, the others make up the rest
    small = write_labelled(tmp_path / "s", "val", 2, 2) + files[2:]
    assert labels(ys.read_spread([small[0], small[2]], 6, 4)[0]) == [0, 1, 2000, 2002, 2005, 2007]


def test_draws_are_disjoint_seeded_training_images(tmp_path):
    files = write_labelled(tmp_path, "train", 2, 12)
    draws, disjoint = ys.random_draws(files, 8, 3, 4, seed=5)
    assert disjoint and all(len(d) == 8 for d in draws)
    seen = [set(labels(d)) for d in draws]
    assert not (seen[0] & seen[1] or seen[0] & seen[2] or seen[1] & seen[2])
    assert set().union(*seen) <= {1000 * i + j for i in range(2) for j in range(12)}
    again, _ = ys.random_draws(files, 8, 3, 4, seed=5)
    assert [labels(d) for d in again] == [labels(d) for d in draws]
    other, _ = ys.random_draws(files, 8, 3, 4, seed=6)
    assert [labels(d) for d in other] != [labels(d) for d in draws]
    # too few images for disjoint draws: each draw is still n distinct images
    draws, disjoint = ys.random_draws(files, 20, 3, 4)
    assert not disjoint and all(len(set(labels(d))) == 20 for d in draws)
    with pytest.raises(UserError, match="24 images, fewer than the 30 of one floor draw"):
        ys.random_draws(files, 30, 1, 4)


def test_independent_floor_sees_universe_to_universe_scatter(tmp_path):
    """Universes differ in amplitude; the interleaved halves of the validation universes cannot
    see it, the training universes do. A floor drawn from the validation universes themselves
    would come out as small as the same-universe one and fail here."""
    write_universes(tmp_path, {"val": [1.0, 1.3], "train": [0.7, 1.6, 0.8, 1.5]})
    yard = ys.load_yardsticks(tmp_path, "d", 16, 64, draws=3)
    assert yard.ref.shape == (32, 16, 16) and yard.same.shape == (32, 16, 16)
    assert len(yard.independent) == 3 and yard.disjoint
    assert (yard.val_universes, yard.train_universes) == (2, 4)
    val_bytes = {x.tobytes() for x in np.concatenate([yard.ref, yard.same])}
    assert not any(x.tobytes() in val_bytes for d in yard.independent for x in d)
    floors = ys.floor_statistics(yard, stats.summary_statistics)
    same, ind = floors[ys.FLOOR_SAME], floors[ys.FLOOR_INDEPENDENT]
    assert len(ind["draws"]) == 3
    for key in ("pk_frac_err", "pixel_ks"):
        assert ind["min"][key] <= ind["median"][key] <= ind["max"][key]
        assert ind["min"][key] > 3 * same[key], key
    lines = ys.tensorboard_lines(floors)
    assert set(lines) == {"floor_same_universes", "floor_independent_0", "floor_independent_1",
                          "floor_independent_2"}


def test_same_universe_in_both_splits_is_refused(tmp_path):
    write_universes(tmp_path, {"val": [1.0], "train": [1.0, 1.0]})
    with h5py.File(tmp_path / "d" / "train" / "train1.h5", "a") as f:
        f.attrs["source"] = "univ_val_0.h5"
    with pytest.raises(UserError, match=r"train1.h5 and .*val0.h5: both sliced from universe "
                                        r"univ_val_0.h5"):
        ys.load_yardsticks(tmp_path, "d", 16, 32)


def test_set_statistic_equals_summary_statistics(tmp_path):
    """From per-universe log spectra, pk_frac_err of two sets of universes (equal images per
    universe) is the suite's statistic on the images themselves."""
    write_universes(tmp_path, {"train": [0.8, 1.0, 1.4], "val": [1.2, 0.9]}, n_per=12)
    tr = sorted((tmp_path / "d" / "train").glob("*.h5"))
    va = sorted((tmp_path / "d" / "val").glob("*.h5"))
    k, ln = ys.universe_spectra(tr + va, 16)
    assert ln.shape == (5, k.size)
    read = ys.cosmo_data.read_images
    expected = stats.summary_statistics(read(va), read(tr))["pk_frac_err"]
    assert ys.set_pk_frac_err(k, ln[3:], ln[:3]) == pytest.approx(expected, rel=1e-9)
    assert expected > 0.05


def test_scatter_fit_recovers_the_per_universe_scatter():
    """Universes whose log P(k) is shifted by s * N(0, 1) each: pk_frac_err between sets of N
    and M is |exp(shift) - 1| with shift ~ N(0, s^2 (1/N + 1/M)), mean s sqrt(2/pi) sqrt(...)."""
    rng = np.random.default_rng(1)
    s = 0.1
    ln = np.repeat(s * rng.standard_normal((400, 1)), 5, axis=1)
    k = np.arange(1.0, 6.0)
    fit = ys.universe_scatter(k, ln, [(1, 1), (2, 2), (4, 4), (4, 40), (16, 16)], draws=400)
    c = ln[:, 0].std(ddof=1) * np.sqrt(2 / np.pi)  # this pool's own scatter
    assert fit["c"] == pytest.approx(c, rel=0.05)
    assert fit["q95_over_mean"] == pytest.approx(1.96 / np.sqrt(2 / np.pi), rel=0.12)
    for row in fit["rows"]:
        assert row["mean"] == pytest.approx(row["fit"], rel=0.15)
    need = ys.universes_needed(fit, 0.05)
    assert need == {"mean": 3, "p95": 13}  # (0.073 / 0.05)^2 = 2.1; (2.48 * 0.073 / 0.05)^2 = 13
    with pytest.raises(UserError, match="N \\+ M <= 400"):
        ys.universe_scatter(k, ln, [(300, 200)])


def test_demo_data_adds_validation_universes_only():
    """The Makefile's demo data: 3 validation universes, and the same 6 training universes as
    the 8-universe split at 0.25 (the demo's training set and its runs are unchanged)."""
    import re

    from exagan_tf.cosmo import slice_universes as su
    from tests.conftest import REPO

    make = (REPO / "Makefile").read_text()
    n = int(re.search(r"^UNIVERSES \?= (\d+)$", make, re.M).group(1))
    fraction = float(re.search(r"^DEMO_VAL_FRACTION \?= ([\d.]+)$", make, re.M).group(1))
    assert "--val-fraction $(DEMO_VAL_FRACTION)" in make

    def split(count, frac):
        stems = [f"univ_0_{i:05d}" for i in range(count)]
        return su.assign_splits(stems, frac, 0)

    new, old = split(n, fraction), split(8, 0.25)
    train = sorted(s for s, v in new.items() if v == "train")
    assert train == sorted(s for s, v in old.items() if v == "train")
    assert len(train) == 6 and sum(v == "val" for v in new.values()) == 3


def test_scatter_command_line(tmp_path, capsys):
    import json

    write_universes(tmp_path, {"train": [0.8, 1.0, 1.2, 0.9], "val": [1.1, 0.7]}, n_per=8)
    out_json = tmp_path / "scatter.json"
    code = ys.main([str(tmp_path / "d"), "--img-dim", "16", "--sizes", "1", "2", "--draws", "30",
                    "--json", str(out_json)])
    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith("6 universes, 30 draws per row")
    assert "to resolve pk_frac_err 0.05:" in out
    result = json.loads(out_json.read_text())
    assert [(r["n"], r["m"]) for r in result["rows"]] == [(1, 1), (1, 5), (2, 2), (2, 4)]
    assert result["c"] > 0 and len(result["files"]) == 6
    try:
        code = ys.main([str(tmp_path / "nothing")])
    except SystemExit as exit_:
        code = exit_.code
    err = capsys.readouterr().err
    assert code == 2 and "nothing: 0 shard(s); need 2 or more" in err
