"""``import exagan_tf`` is enough to load any model the suite exports.

A ``.keras`` file names its custom layers by their registered names (``exagan_tf>...``), and
Keras finds them only once the module that registers them
(``keras.saving.register_keras_serializable``) was imported: loading ``generator_final.keras``
failed with "Functional could not be deserialized" unless, say, ``exagan_tf.core.layers`` had
been imported first. :data:`MODULES` are the modules that register classes.

Importing them from ``exagan_tf/__init__`` would import Keras and TensorFlow (5-8 s) in every
command, including those that never touch a model (``--help``, the data tools; ``import
exagan_tf`` itself takes 0.05 s). So they are imported when Keras is: :func:`install` puts a
finder first on ``sys.meta_path`` that watches the import of ``keras`` and of this package's
modules, and once Keras is loaded and no module of this package is half-imported (one of them
may be importing Keras, and the registering modules import each other), it imports
:data:`MODULES` and removes itself. When Keras is already loaded, :func:`install` imports them
at once. Models made of built-in layers (the muon networks, RACOON/PENGUIN) load without this
package at all.
"""

from __future__ import annotations

import importlib
import importlib.abc
import sys

#: every module defining a class registered with ``keras.saving.register_keras_serializable``
MODULES = (
    "exagan_tf.core.layers",
    "exagan_tf.core.flows",
    "exagan_tf.core.flow_matching",
    "exagan_tf.core.compat",
    "exagan_tf.core.schedules",
    "exagan_tf.baryons.layers",
    "exagan_tf.cmb.generators",
)

_state = {"depth": 0, "busy": False, "done": False, "keras": False}


def _keras_loaded() -> bool:
    if _state["keras"]:  # its exec_module returned (it is still marked initializing then)
        return True
    module = sys.modules.get("keras")
    spec = getattr(module, "__spec__", None)
    return module is not None and not getattr(spec, "_initializing", False)


def register() -> None:
    """Import every registering module now (Keras must be importable)."""
    if _state["done"] or _state["busy"]:
        return
    _state["busy"] = True
    try:
        for name in MODULES:
            importlib.import_module(name)
        _state["done"] = True
    finally:
        _state["busy"] = False
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _AfterKeras)]


def _maybe_register() -> None:
    if _state["depth"] == 0 and not _state["done"] and _keras_loaded():
        register()


class _Loader(importlib.abc.Loader):
    """The loader of a watched module: the real one, counting the modules being executed."""

    def __init__(self, loader):
        self._loader = loader

    def __getattr__(self, name):  # get_code, get_resource_reader, ... of the real loader
        return getattr(self._loader, name)

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        _state["depth"] += 1
        try:
            self._loader.exec_module(module)
        finally:
            _state["depth"] -= 1
        if module.__name__ == "keras":
            _state["keras"] = True
        _maybe_register()


class _AfterKeras(importlib.abc.MetaPathFinder):
    """Wraps the loaders of ``keras`` and ``exagan_tf.*`` in :class:`_Loader`."""

    def find_spec(self, fullname, path, target=None):
        if _state["done"] or not (fullname == "keras" or fullname.startswith("exagan_tf.")):
            return None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            if finder is self or find is None:
                continue
            spec = find(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _Loader(spec.loader)
        return spec


def install() -> None:
    """Register the custom Keras classes as soon as Keras is loaded (now, if it is)."""
    if _keras_loaded():
        register()
    elif not any(isinstance(f, _AfterKeras) for f in sys.meta_path):
        sys.meta_path.insert(0, _AfterKeras())
