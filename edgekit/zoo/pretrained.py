"""Weights for zoo models that mirror ``keras.applications`` layer for layer.

``--weights FILE`` loads a Keras weights file saved from the matching
``keras.applications`` model (the Keras 3 ``.weights.h5`` layout or the legacy ``.h5``
that ``keras.applications`` keeps in ``~/.keras/models/``), or from the zoo model itself.
``--weights imagenet`` looks for the file ``keras.applications`` would use in that local
cache and never downloads it.

The file is loaded into the ``keras.applications`` model of the same configuration (its
own loader knows both layouts and its layer names), and the weights are copied in order
into the zoo model after checking every shape. Pure Python at import; Keras is imported
when weights are loaded.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from edgekit.core.errors import ModelFileError, UsageError, first_line

# zoo name -> keras.applications constructor
APPLICATIONS = {"mobilenet": "MobileNet", "mobilenet_v2": "MobileNetV2",
                "xception": "Xception", "vgg16": "VGG16", "vgg19": "VGG19",
                "inception_v3": "InceptionV3", "densenet121": "DenseNet121",
                "densenet169": "DenseNet169", "densenet201": "DenseNet201",
                "mobilenet_v3": "MobileNetV3Large"}   # Small by --variant: application()

WHY_NOT = ("ResNets here have bias-free convolutions as in the paper, unlike "
           "keras.applications.ResNet50; the other zoo models have no keras.applications "
           "counterpart")


def application(name: str, knobs: dict[str, Any]) -> str:
    """The keras.applications constructor of this configuration."""
    if name == "mobilenet_v3" and knobs.get("variant") == "small":
        return "MobileNetV3Small"
    return APPLICATIONS[name]


def check_supported(name: str, knobs: dict[str, Any]) -> None:
    """One line when a zoo configuration cannot take keras.applications weights."""
    if name not in APPLICATIONS:
        raise UsageError(f"--weights: {name} has no keras.applications twin; --weights "
                         f"applies to {', '.join(APPLICATIONS)} ({WHY_NOT})")
    if knobs.get("batch_norm"):
        raise UsageError(f"--weights: keras.applications.{APPLICATIONS[name]} has no batch "
                         "norm; drop --batch-norm")
    if knobs.get("growth_rate", 32) != 32:
        raise UsageError("--weights: keras.applications DenseNets have --growth-rate 32")


def _app_kwargs(name: str, knobs: dict[str, Any]) -> dict[str, Any]:
    r = knobs["resolution"]
    kw: dict[str, Any] = {"input_shape": (r, r, 3), "include_top": not knobs.get("no_top"),
                          "weights": None, "classes": knobs.get("classes", 1000)}
    if name == "mobilenet":
        kw.update(alpha=knobs["alpha"], depth_multiplier=knobs["depth_multiplier"],
                  dropout=knobs["dropout"])
    elif name == "mobilenet_v2":
        kw.update(alpha=knobs["alpha"])
    elif name == "mobilenet_v3":   # Keras' Rescaling layer has no weights: the zoo has none
        kw.update(alpha=knobs["alpha"], minimalistic=knobs["minimalistic"])
    if not kw["include_top"]:
        kw.pop("classes")
    return kw


def imagenet_file(name: str, knobs: dict[str, Any]) -> str:
    """The file name keras.applications uses for this configuration's ImageNet weights."""
    top = not knobs.get("no_top")
    if name == "mobilenet":
        alpha = {1.0: "1_0", 0.75: "7_5", 0.5: "5_0"}.get(knobs["alpha"], "2_5")
        return f"mobilenet_{alpha}_{knobs['resolution']}_tf{'' if top else '_no_top'}.h5"
    if name == "mobilenet_v2":
        return (f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{float(knobs['alpha'])}_"
                f"{knobs['resolution']}{'' if top else '_no_top'}.h5")
    if name == "mobilenet_v3":
        model = knobs["variant"] + ("_minimalistic" if knobs["minimalistic"] else "")
        return (f"weights_mobilenet_v3_{model}_224_{float(knobs['alpha'])}_float"
                f"{'' if top else '_no_top_v2'}.h5")
    return f"{name}_weights_tf_dim_ordering_tf_kernels{'' if top else '_notop'}.h5"


def keras_models_dir() -> Path:
    """Where keras.applications caches weights: $KERAS_HOME/models or ~/.keras/models."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "models"


def resolve_file(spec: str, name: str, knobs: dict[str, Any]) -> Path:
    """The weights file a ``--weights`` value names (checked to exist)."""
    check_supported(name, knobs)
    if spec == "imagenet":
        path = keras_models_dir() / imagenet_file(name, knobs)
        if not path.is_file():
            raise UsageError(
                f"--weights imagenet: {path} is not there, and edgekit never downloads; "
                f"put keras.applications' {path.name} there (it is what "
                f"keras.applications.{application(name, knobs)}(weights='imagenet') "
                "downloads)")
        return path
    path = Path(spec)
    if not path.is_file():
        raise UsageError(f"--weights: file not found: {path}")
    if not path.name.endswith((".h5", ".hdf5", ".keras")):
        raise UsageError(f"--weights {path}: expected a Keras weights file (.weights.h5, "
                         ".h5)")
    return path


def load(model, name: str, knobs: dict[str, Any], path: Path) -> str:
    """Load ``path`` into the zoo ``model`` in place; return what was loaded, for the
    manifest."""
    from edgekit._tf import keras

    constructor = application(name, knobs)
    app = getattr(keras.applications, constructor)(**_app_kwargs(name, knobs))
    try:
        app.load_weights(str(path))
        source = f"keras.applications.{constructor} layout"
    except Exception as app_error:  # Keras raises many types for mismatched files
        try:
            model.load_weights(str(path))
            return f"{path} (zoo layout)"
        except Exception:
            raise ModelFileError(f"--weights {path}: does not fit {name} "
                                 f"({first_line(app_error)})") from app_error
    theirs, ours = app.get_weights(), model.get_weights()
    shapes = [w.shape for w in theirs]
    if shapes != [w.shape for w in ours]:
        raise ModelFileError(f"--weights {path}: keras.applications.{constructor} "
                             f"and the zoo's {name} differ in their weights")
    model.set_weights(theirs)
    return f"{path} ({source})"
