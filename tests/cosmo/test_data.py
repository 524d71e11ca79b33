import numpy as np
import pytest

from exagan_tf.cosmo import data
from exagan_tf.errors import UserError
from tests.conftest import write_shards


def test_dataset_batches_are_transformed_counts(tmp_path):
    root = write_shards(tmp_path, "d", 16, n_per=40, n_train=2, n_val=1)
    files = data.shard_files(tmp_path, "d", "train")
    assert [f.name for f in files] == ["univ0.h5", "univ1.h5"]
    ds = data.make_dataset(files, 16, 8, 4.0, "channels_first", seed=1, shuffle_buffer=1)
    seen = np.concatenate([b.numpy() for b in ds.take(10)])
    assert seen.shape == (80, 1, 16, 16)
    assert seen.min() >= -1 and seen.max() < 1
    raw = data.read_images(files)
    expected = np.sort((2 * raw / (raw + 4.0) - 1).ravel())
    # 80 of the 80 images = one full pass over the data, in some order
    np.testing.assert_allclose(np.sort(seen.ravel()), expected, atol=1e-6)
    assert root.exists()


def test_dequantized_batches_floor_back_to_the_counts(tmp_path):
    write_shards(tmp_path, "d", 16, n_per=8, n_train=1, n_val=1)
    files = data.shard_files(tmp_path, "d", "train")

    def one_pass(seed):
        ds = data.make_dataset(files, 16, 8, 4.0, "channels_last", seed=seed, shuffle_buffer=1,
                               dequantize=True)
        return next(iter(ds)).numpy()[..., 0]

    s = one_pass(1)
    x = 4.0 * (1 + s.astype(np.float64)) / (1 - s)  # back to (dequantized) counts
    raw = data.read_images(files).astype(np.float64)
    # same images in some order: each pixel is count + u with u in [0, 1), floor recovers it
    key = lambda a: np.sort(a.reshape(len(a), -1).sum(1))  # noqa: E731
    np.testing.assert_allclose(key(np.floor(x + 1e-4)), key(raw))
    frac = (x - np.floor(x + 1e-4)).ravel()
    assert frac.min() > -1e-3 and frac.max() < 1 and 0.4 < frac.mean() < 0.6
    np.testing.assert_array_equal(s, one_pass(1))  # seeded
    assert not np.array_equal(s, one_pass(2))


def test_channels_last_and_worker_sharding(tmp_path):
    write_shards(tmp_path, "d", 16, n_per=8, n_train=3, n_val=1)
    files = data.shard_files(tmp_path, "d", "train")
    b = next(iter(data.make_dataset(files, 16, 4, 4.0, "channels_last")))
    assert b.shape == (4, 16, 16, 1)
    parts = []
    for worker in range(2):
        ds = data.make_dataset(files, 16, 4, 4.0, "channels_last", shard_index=worker,
                               num_shards=2, shuffle_buffer=1)
        parts.append(np.concatenate([x.numpy() for x in ds.take(4 if worker == 0 else 2)]))
    # worker 0 reads files 0 and 2 (16 images), worker 1 file 1 (8 images): disjoint sets
    a, b1 = {x.tobytes() for x in parts[0]}, {x.tobytes() for x in parts[1]}
    assert len(a) == 16 and len(b1) == 8 and not a & b1


def test_read_images_limits_count(tmp_path):
    write_shards(tmp_path, "d", 16, n_per=10, n_train=1, n_val=2)
    val = data.read_images(data.shard_files(tmp_path, "d", "val"), 15, 16)
    assert val.shape == (15, 16, 16) and val.dtype == np.float32


def test_errors_name_the_problem(tmp_path):
    with pytest.raises(UserError, match="no \\*.h5 shards found"):
        data.shard_files(tmp_path, "absent", "train")
    write_shards(tmp_path, "d", 16, n_per=4)
    files = data.shard_files(tmp_path, "d", "train")
    with pytest.raises(UserError, match=r"univ0.h5: dataset 'data' has shape \(4, 16, 16\), expected \(n, 32, 32\)"):
        data.check_shards(files, 32)
