"""Generation into ROOT with generator calls in threads: the files are, bit for bit, those of
the previous chain (one batch after the other, the flow padded to a power of two), the Poisson
category mix is unchanged, the flow compiles one shape, and a generator's error reaches the
caller."""

import keras
import numpy as np
import pytest
import tensorflow as tf
import uproot

from exagan_tf.core.flows import SplineFlow
from exagan_tf.errors import UserError
from exagan_tf.muons import generate, rootio
from exagan_tf.muons.flow import FlowGenerator
from exagan_tf.muons.gmm import GaussianMixtureSampler
from exagan_tf.muons.preprocess import FEATURES_4, FEATURES_6, CategoryTransform


def _transforms():
    """A 6-D category with the square-root broadening and a 4-D one, weights 3 : 1."""
    mm6 = [[-46.5, 46.5], [-40.0, 41.0], [-7084.9, -6460.8], [-8.2, 8.3], [-8.1, 8.2],
           [10.3, 386.0]]
    disp = CategoryTransform("mum_displaced", FEATURES_6, mm6, means=[0.02, -0.01],
                             min_max_2=[[-1.1, 1.0], [-1.0, 1.05]], weight_sum=3.0, count=10)
    prompt = CategoryTransform("mup_prompt", FEATURES_4, mm6[2:], weight_sum=1.0, count=30)
    return {"mum_displaced": disp, "mup_prompt": prompt}


@pytest.fixture(scope="module")
def generators():
    """A small 6-D spline flow off the identity and a 3-component 4-D mixture."""
    keras.utils.set_random_seed(4)
    flow = SplineFlow(6, layers=2, bins=5, hidden=16, depth=1, bound=3.0, squash=0.999)
    rng = np.random.default_rng(4)
    for c in flow.couplings:
        c.out_layer.kernel.assign(rng.normal(0, 0.3, c.out_layer.kernel.shape))
    a = rng.normal(0, 0.2, (3, 4, 4))
    mix = GaussianMixtureSampler([0.5, 0.3, 0.2], rng.uniform(-0.5, 0.5, (3, 4)),
                                 a @ a.transpose(0, 2, 1) + 0.01 * np.eye(4))
    return {"mum_displaced": FlowGenerator(flow), "mup_prompt": mix}


def _previous_flow(flow, z, batch=65536):
    """The flow as the previous chain called it: a short batch padded to a power of two."""
    size = batch if len(z) >= batch else max(256, 1 << (len(z) - 1).bit_length())
    padded = np.zeros((size, flow.dim), np.float32)
    padded[: len(z)] = z
    return flow._inverse_graph(tf.constant(padded)).numpy()[: len(z)]


def _previous_chain(generators, transforms, n, seed, batch, per_file):
    """(counts, branches of each file) as the serial chain wrote them."""
    rng = np.random.default_rng(seed)
    means = generate.category_means(transforms, n, "weight")
    counts = {c: int(rng.poisson(m)) for c, m in means.items()}
    w_each = sum(t.weight_sum for t in transforms.values()) / n
    parts = []
    for cat, count in counts.items():
        gen = generators[cat]
        for start in range(0, count, batch):
            m = min(batch, count - start)
            z = rng.standard_normal((m, gen.latent), dtype=np.float32)
            out = _previous_flow(gen.flow, z) if isinstance(gen, FlowGenerator) else gen(z)
            mu = generate.features_to_muons(cat, transforms[cat].inverse(np.clip(out, -1, 1)))
            mu["w"] = np.full(m, w_each)
            parts.append(rootio.to_branches(mu, 11, 0.0))
    merged = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    total = len(merged["z"])
    files = [{k: v[i : i + per_file] for k, v in merged.items()} for i in range(0, total, per_file)]
    return counts, files


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_threads_write_the_files_of_the_serial_chain(generators, tmp_path, workers):
    transforms = _transforms()
    counts, expected = _previous_chain(generators, transforms, 5000, 11, 700, 1800)
    res = generate.generate_to_root(generators, transforms, 5000, tmp_path, per_file=1800,
                                    batch=700, seed=11, progress=False, workers=workers)
    # the Poisson category mix: by summed weight (3 : 1), drawn before the noise
    assert res["counts"] == counts
    assert counts["mum_displaced"] > 2.5 * counts["mup_prompt"]
    assert len(res["files"]) == len(expected) == 3
    for path, want in zip(res["files"], expected):
        with uproot.open(path) as f:
            tree = f[rootio.TREE_NAME]
            assert tree.classname == "TTree"
            assert list(tree.keys()) == list(rootio.LEAVES_11)
            assert {tree[b].typename for b in tree.keys()} == {"float"}
        got = rootio.read_branches(path)
        for key in rootio.LEAVES_11:
            np.testing.assert_array_equal(got[key], want[key], err_msg=key)
    back = rootio.read_muons(res["files"][0])  # metres -> cm, the displaced muons first
    assert back["z"].min() > -7085 and back["z"].max() < -6460 and np.std(back["x"]) > 1.0


def test_the_flow_compiles_one_shape_whatever_the_call_sizes():
    keras.utils.set_random_seed(2)
    flow = SplineFlow(4, layers=2, bins=4, hidden=8, depth=1, bound=3.0)
    for c in flow.couplings:
        c.out_layer.kernel.assign(np.random.default_rng(2).normal(0, 0.3, c.out_layer.kernel.shape))
    z = np.random.default_rng(3).standard_normal((40000, 4), dtype=np.float32)
    whole = flow.generate(z)
    parts = [flow.generate(z[:5]), flow.generate(z[5:16390]), flow.generate(z[16390:])]
    assert flow._inverse_graph.experimental_get_tracing_count() == 1
    np.testing.assert_array_equal(np.concatenate(parts), whole)  # rows do not interact
    np.testing.assert_array_equal(_previous_flow(flow, z[:300]), whole[:300])
    assert np.abs(whole - z).max() > 0.1  # off the identity


def test_a_generator_error_reaches_the_caller(generators, tmp_path):
    calls = []

    def failing(z):
        calls.append(len(z))
        if len(calls) == 3:
            raise UserError("generator broke at its third batch")
        return generators["mup_prompt"](z)

    failing.latent = 5
    with pytest.raises(UserError, match="third batch"):
        generate.generate_to_root({"mup_prompt": failing}, {"mup_prompt": _transforms()[
            "mup_prompt"]}, 5000, tmp_path, batch=500, progress=False, workers=2)
    assert len(calls) <= 6  # stopped at the error, not run to the end (10 batches)
    assert not list(tmp_path.glob("*.root"))


def test_cli_workers(generators, tmp_path, capsys):
    """``--workers`` (default 2); one TensorFlow thread per call is set only before the
    runtime starts (here it has: the fixture ran the flow), so an in-process caller keeps its
    threads."""
    before = tf.config.threading.get_intra_op_parallelism_threads()
    assert generate.one_thread_per_call() is False
    assert tf.config.threading.get_intra_op_parallelism_threads() == before
    assert generate.parse_args(["--data", "d", "--out", "o"]).workers == 2
    with pytest.raises(SystemExit) as err:
        generate.main(["--data", str(tmp_path), "--out", str(tmp_path / "o"), "--workers", "0"])
    assert err.value.code == 2 and "--workers 0: expected 1 or more" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
