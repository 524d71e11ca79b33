"""Every system's exported ``.keras`` model loads in a fresh interpreter after ``import exagan_tf``
alone (``keras.saving.load_model`` and ``load_model_safe``), in either import order, and
gives the outputs it gave when saved; the models of built-in layers load without the package.

The models are each system's own builders at tiny sizes, saved the way the trainers save them
(``save_model_atomic``); one subprocess per import order loads all of them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from exagan_tf.fileio import save_model_atomic

REPO = Path(__file__).resolve().parents[2]

LOADER = """
import json, sys
import numpy as np
{imports}
from pathlib import Path
cases = json.loads(Path(sys.argv[1]).read_text())
worst = {{}}
for name, case in cases.items():
    if {only_builtin} and not case["builtin"]:
        continue
    model = {load}(case["path"])
    x = np.load(case["input"])
    out = model(x, training=False)
    out = out[0] if isinstance(out, (list, tuple)) else out
    worst[name] = float(np.max(np.abs(np.asarray(out) - np.load(case["output"]))))
print(json.dumps(worst))
"""

ORDERS = {
    "exagan_tf then keras": ("import exagan_tf\nimport keras", "keras.saving.load_model", False),
    "keras then exagan_tf": ("import keras\nimport exagan_tf", "keras.saving.load_model", False),
    "load_model_safe": ("from exagan_tf.fileio import load_model_safe",
                        "load_model_safe", False),
    "keras alone (built-in layers)": ("import keras", "keras.saving.load_model", True),
}


def _models() -> dict[str, tuple[keras.Model, tuple, bool]]:
    """name -> (model, input shape, made of built-in layers only)."""
    from exagan_tf.baryons.config import load_baryons
    from exagan_tf.baryons.train import build_networks
    from exagan_tf.cmb.generators import build_generator, kappa_stage_generator
    from exagan_tf.config import load_exagan
    from exagan_tf.cosmo.dcgan import build_gan
    from exagan_tf.gr.architectures import build_model
    from exagan_tf.muons import models as muon_models

    keras.utils.set_random_seed(0)
    gan = build_gan(load_exagan("test"), "channels_last")
    out = {"exagan generator_final": (gan.sampler, (2, 8), False)}
    out["muon generator_final"] = (muon_models.build_generator(7, 2, 1, 4), (3, 4), True)
    out["muon decoder_final"] = (muon_models.build_decoder(7, 8, 1, 3, 0.0), (3, 3), True)
    out["GR model_epoch"] = (build_model("RACCOON", (16, 16, 16), 1, 0.0), (2, 16, 16, 16), True)
    for tag, names in (("cgan_test", ("generator",)), ("cvae_test", ("decoder", "prior")),
                       ("cfm_test", ("velocity",))):
        cfg = load_baryons(tag)
        nets = build_networks(cfg, "channels_last")
        for name in names:
            shapes = [tuple(int(d) for d in t.shape[1:]) for t in nets[name].inputs]
            out[f"baryon {name}_final"] = (nets[name], [(2, *s) for s in shapes], False)
    out["CMB pix2pix generator_final"] = (
        build_generator("pix2pix", 16, 2, 1, filters=4, dropout=0.0,
                        input_skips=[(0, 0, 0.5)]),
        (2, 16, 16, 2), False)
    out["CMB kappa-stage generator_final"] = (
        kappa_stage_generator("astroencoder", 16, 2, 2, 1, filters=4, dropout=0.0),
        (2, 16, 16, 2), False)
    return out


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    """The models saved, with a fixed input and the output they gave; returns the case file."""
    folder = tmp_path_factory.mktemp("exports")
    rng = np.random.default_rng(0)
    cases = {}
    for i, (name, (model, shape, builtin)) in enumerate(_models().items()):
        x = ([rng.normal(size=s).astype("float32") for s in shape] if isinstance(shape, list)
             else rng.normal(size=shape).astype("float32"))
        x = x[0] if isinstance(x, list) and len(x) == 1 else x
        y = model(x, training=False)
        y = y[0] if isinstance(y, (list, tuple)) else y
        path = folder / f"m{i}.keras"
        save_model_atomic(model, path)
        inputs = x if isinstance(x, list) else [x]
        np.savez(folder / f"x{i}.npz", **{f"x{k}": v for k, v in enumerate(inputs)})
        np.save(folder / f"y{i}.npy", np.asarray(y))
        cases[name] = {"path": str(path), "input": str(folder / f"x{i}.npz"),
                       "output": str(folder / f"y{i}.npy"), "builtin": builtin,
                       "list_input": isinstance(x, list)}
    (folder / "cases.json").write_text(json.dumps(cases))
    return folder / "cases.json"


@pytest.mark.parametrize("order", [
    pytest.param(o, marks=pytest.mark.slow) if o == "keras then exagan_tf" else o for o in ORDERS])
def test_exports_load_in_a_fresh_interpreter(exported, order):
    imports, load, only_builtin = ORDERS[order]
    script = LOADER.format(imports=imports, load=load, only_builtin=only_builtin)
    script = script.replace('x = np.load(case["input"])',
                            'z = np.load(case["input"])\n'
                            '    x = [z[f"x{k}"] for k in range(len(z.files))]\n'
                            '    x = x if case["list_input"] else x[0]')
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3",
           "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", script, str(exported)], cwd=REPO, env=env,
                          check=False,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    worst = json.loads(proc.stdout.strip().splitlines()[-1])
    cases = json.loads(exported.read_text())
    expected = {n for n, c in cases.items() if c["builtin"] or not only_builtin}
    assert set(worst) == expected and len(expected) >= (3 if only_builtin else 9)
    # the same weights: equal outputs (no dropout: pix2pix keeps it at inference)
    assert all(v < 1e-5 for v in worst.values()), json.dumps(worst)


def test_keras_classes_names_every_registered_class():
    """exagan_tf.keras_classes.MODULES lists every module that registers a Keras class."""
    from exagan_tf import keras_classes

    registering = sorted(
        ".".join(p.relative_to(REPO).with_suffix("").parts)
        for p in (REPO / "exagan_tf").rglob("*.py")
        if "register_keras_serializable" in p.read_text() and p.name != "keras_classes.py")
    assert registering == sorted(keras_classes.MODULES)

