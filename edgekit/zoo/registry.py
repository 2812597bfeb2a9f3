"""The zoo's catalogue: names, families, knobs, defaults and papers. Pure Python, so that
``edgekit models`` and knob validation never import TensorFlow. Builders are named as
'module:function' strings and imported only when a model is built."""

from __future__ import annotations

import importlib
from dataclasses import replace
from typing import Any

from edgekit.core.errors import EdgekitError, UsageError, first_line
from edgekit.core.specs import Knob, ModelEntry, suggest

# ImageNet-21k has 21,841 classes; 100,000 keeps a classifier head under 1 GB of weights
# for every zoo model while leaving room for any real label set
MAX_CLASSES = 100_000


def classes_knob() -> Knob:
    return Knob("classes", int, 1000, "number of output classes", minimum=1,
                maximum=MAX_CLASSES)


def resolution_knob(default: int, minimum: int = 32) -> Knob:
    return Knob("resolution", int, default, "input height and width in pixels",
                minimum=minimum, maximum=4096)


NO_TOP = Knob("no_top", bool, False, "drop the classifier head (feature extractor)")


def _mobilenet_resolve(values: dict[str, Any], given: set[str]) -> dict[str, Any]:
    rho = values.pop("rho")
    if rho is not None:
        if "resolution" in given:
            raise UsageError("give either --resolution or --rho, not both")
        resolution = round(224 * rho)
        if resolution < 32:
            raise UsageError(f"--rho {rho:g} gives a {resolution} px input; the minimum is 32 px")
        values["resolution"] = resolution
    return values


_ENTRIES: list[ModelEntry] = [
    ModelEntry(
        "mobilenet", "MobileNet v1",
        "Howard et al. 2017, MobileNets (arXiv:1704.04861)",
        "edgekit.zoo.mobilenet:mobilenet_v1",
        (
            Knob("alpha", float, 1.0, "width multiplier (channels x alpha)",
                 minimum=0.0, min_exclusive=True, maximum=4.0),
            resolution_knob(224),
            Knob("rho", float, None, "resolution multiplier: input = round(224 x rho)",
                 minimum=0.0, min_exclusive=True, maximum=4.0),
            Knob("depth_multiplier", int, 1, "depthwise channel multiplier (not rho)",
                 minimum=1, maximum=16),
            classes_knob(),
            Knob("dropout", float, 1e-3, "dropout rate before the classifier",
                 minimum=0.0, maximum=0.99),
            NO_TOP,
        ),
        summary="depthwise-separable convolutions; width alpha, resolution rho",
        resolve=_mobilenet_resolve,
    ),
    ModelEntry(
        "squeezenet", "SqueezeNet",
        "Iandola et al. 2016, SqueezeNet (arXiv:1602.07360)",
        "edgekit.zoo.squeezenet:squeezenet",
        (
            Knob("version", str, "1.0", "1.0 (paper) or 1.1 (2.4x fewer MACs)",
                 choices=("1.0", "1.1")),
            Knob("bypass", str, "none", "the paper's shortcut variants",
                 choices=("none", "simple", "complex")),
            classes_knob(),
            resolution_knob(224, minimum=64),
            NO_TOP,
        ),
        summary="fire modules (squeeze 1x1, expand 1x1 + 3x3)",
    ),
    ModelEntry(
        "xception", "Xception",
        "Chollet 2017, Xception (arXiv:1610.02357)",
        "edgekit.zoo.xception:xception",
        (classes_knob(), resolution_knob(299, minimum=71), NO_TOP),
        summary="entry/middle/exit flows of separable convolutions with residuals",
    ),
]

for _depth in (18, 34, 50, 101, 152):
    _knobs: tuple[Knob, ...] = (classes_knob(), resolution_knob(224))
    if _depth >= 50:
        _knobs += (Knob("variant", str, "v1", "stride on the first 1x1 (v1) or the 3x3 (v1.5)",
                        choices=("v1", "v1.5")),)
    _ENTRIES.append(ModelEntry(
        f"resnet{_depth}", "ResNet",
        "He et al. 2015, Deep Residual Learning (arXiv:1512.03385)",
        "edgekit.zoo.resnet:resnet",
        _knobs + (NO_TOP,),
        summary=("basic" if _depth < 50 else "bottleneck") + " residual blocks",
        fixed={"depth": _depth},
    ))

_ENTRIES.append(ModelEntry(
    "resnext50", "ResNeXt",
    "Xie et al. 2017, Aggregated Residual Transformations (arXiv:1611.05431)",
    "edgekit.zoo.resnet:resnext",
    (classes_knob(), resolution_knob(224),
     Knob("cardinality", int, 32, "groups of the 3x3 convolutions (C)", minimum=1,
          maximum=64),
     Knob("width", int, 4, "channels per group in the first stage (d)", minimum=1,
          maximum=64),
     NO_TOP),
    summary="grouped-convolution bottlenecks (32x4d)", fixed={"depth": 50}))

_ENTRIES += [
    ModelEntry(
        "lenet5", "LeNet",
        "LeCun et al. 1998, Gradient-based learning applied to document recognition",
        "edgekit.zoo.classic:lenet5",
        (Knob("classes", int, 10, "number of output classes", minimum=1, maximum=MAX_CLASSES),
         Knob("activation", str, "tanh", "hidden activation", choices=("tanh", "relu")),
         resolution_knob(32, minimum=32)),
        summary="C1-S2-C3-S4-C5-F6 on 32x32x1"),
    ModelEntry(
        "alexnet", "AlexNet",
        "Krizhevsky et al. 2012, ImageNet Classification with Deep CNNs (NeurIPS)",
        "edgekit.zoo.classic:alexnet",
        (classes_knob(), resolution_knob(227, minimum=67)),
        summary="single-tower 96-256-384-384-256, FC 4096-4096"),
]
for _depth in (11, 13, 16, 19):
    _ENTRIES.append(ModelEntry(
        f"vgg{_depth}", "VGG",
        "Simonyan & Zisserman 2014, Very Deep Convolutional Networks (arXiv:1409.1556)",
        "edgekit.zoo.classic:vgg",
        (classes_knob(), resolution_knob(224),
         Knob("batch_norm", bool, False, "batch norm after every convolution"), NO_TOP),
        summary="configuration " + {11: "A", 13: "B", 16: "D", 19: "E"}[_depth] +
                ": stacked 3x3 convolutions", fixed={"depth": _depth}))
_ENTRIES += [
    ModelEntry(
        "nin", "Network in Network",
        "Lin et al. 2013, Network In Network (arXiv:1312.4400)",
        "edgekit.zoo.classic:nin", (classes_knob(), resolution_knob(224, minimum=67)),
        summary="mlpconv blocks and global average pooling"),
    ModelEntry(
        "googlenet", "GoogLeNet",
        "Szegedy et al. 2014, Going Deeper with Convolutions (arXiv:1409.4842)",
        "edgekit.zoo.inception:googlenet",
        (classes_knob(), resolution_knob(224),
         Knob("aux_classifiers", bool, False, "add the two auxiliary heads (4a, 4d)")),
        summary="Inception v1: nine inception modules (Table 1)"),
    ModelEntry(
        "inception_v3", "Inception v3",
        "Szegedy et al. 2015, Rethinking the Inception Architecture (arXiv:1512.00567)",
        "edgekit.zoo.inception:inception_v3",
        (classes_knob(), resolution_knob(299, minimum=75), NO_TOP),
        summary="factorized 7x7 / expanded 8x8 inception modules"),
]
for _depth in (121, 169, 201):
    _ENTRIES.append(ModelEntry(
        f"densenet{_depth}", "DenseNet",
        "Huang et al. 2017, Densely Connected Convolutional Networks (arXiv:1608.06993)",
        "edgekit.zoo.densenet:densenet",
        (classes_knob(), resolution_knob(224),
         Knob("growth_rate", int, 32, "channels each layer adds (k)", minimum=1, maximum=256),
         NO_TOP),
        summary="dense blocks with concatenated features", fixed={"depth": _depth}))
_ENTRIES.append(ModelEntry(
    "mobilenet_v2", "MobileNet v2",
    "Sandler et al. 2018, MobileNetV2 (arXiv:1801.04381)",
    "edgekit.zoo.mobilenet_v2:mobilenet_v2",
    (Knob("alpha", float, 1.0, "width multiplier", minimum=0.0, min_exclusive=True,
          maximum=4.0),
     resolution_knob(224), classes_knob(), NO_TOP),
    summary="inverted residuals with linear bottlenecks"))



def _lite_resolve(values: dict[str, Any], given: set[str]) -> dict[str, Any]:
    """Each EfficientNet-Lite variant has its own input size unless --resolution is given."""
    if "resolution" not in given:
        values["resolution"] = LITE_RESOLUTION[values["variant"]]
    return values


def _mnv4_resolve(values: dict[str, Any], given: set[str]) -> dict[str, Any]:
    if "resolution" not in given:
        values["resolution"] = MNV4_RESOLUTION[values["variant"]]
    return values


# the official EfficientNet-Lite input sizes (TensorFlow TPU repository, efficientnet/lite)
LITE_RESOLUTION = {"0": 224, "1": 240, "2": 260, "3": 280, "4": 300}
# the input sizes of the paper's ImageNet results for the conv models (Qin et al. 2024)
MNV4_RESOLUTION = {"conv_small": 224, "conv_medium": 256}

_ENTRIES += [
    ModelEntry(
        "mobilenet_v3", "MobileNet v3",
        "Howard et al. 2019, Searching for MobileNetV3 (arXiv:1905.02244)",
        "edgekit.zoo.mobilenet_v3:mobilenet_v3",
        (Knob("variant", str, "large", "model size", choices=("large", "small")),
         Knob("alpha", float, 1.0, "width multiplier", minimum=0.0, min_exclusive=True,
              maximum=4.0),
         Knob("minimalistic", bool, False,
              "no squeeze-excite, hard-swish or 5x5 kernels (the paper's minimalistic models)"),
         resolution_knob(224), classes_knob(), NO_TOP),
        summary="inverted residuals with squeeze-excite and hard-swish (keras.applications)"),
    ModelEntry(
        "efficientnet_lite", "EfficientNet-Lite",
        "Tan & Le 2019, EfficientNet (arXiv:1905.11946); Lite: TensorFlow TPU models, "
        "efficientnet/lite (2020)",
        "edgekit.zoo.efficientnet_lite:efficientnet_lite",
        (Knob("variant", str, "0", "Lite0..Lite4 (input 224/240/260/280/300 px)",
              choices=tuple(LITE_RESOLUTION)),
         resolution_knob(224),   # the variant's own unless given (_lite_resolve)
         classes_knob(), NO_TOP),
        summary="EfficientNet for edge: no squeeze-excite, ReLU6, fixed stem and head",
        resolve=_lite_resolve),
    ModelEntry(
        "mobilenet_v4", "MobileNet v4",
        "Qin et al. 2024, MobileNetV4: Universal Models for the Mobile Ecosystem "
        "(arXiv:2404.10518)",
        "edgekit.zoo.mobilenet_v4:mobilenet_v4",
        (Knob("variant", str, "conv_small", "the convolutional models (timm's "
              "mobilenetv4_conv_*)", choices=tuple(MNV4_RESOLUTION)),
         resolution_knob(224),   # the variant's own unless given (_mnv4_resolve)
         classes_knob(), NO_TOP),
        summary="universal inverted bottlenecks (ExtraDW, IB, ConvNext, FFN)",
        resolve=_mnv4_resolve),
]

REGISTRY: dict[str, ModelEntry] = {e.name: e for e in _ENTRIES}
DEFAULT_MODEL = "mobilenet"
# The default model of `edgekit export` / `bench` with no arguments: small enough for a
# microcontroller-class demo, real enough to mean something.
DEFAULT_KNOBS: dict[str, Any] = {"alpha": 0.25, "resolution": 96}


def names() -> list[str]:
    return list(REGISTRY)


def get(name: str) -> ModelEntry:
    entry = REGISTRY.get(name.lower())
    if entry is None:
        raise UsageError(f"unknown model {name!r}{suggest(name, names())}; "
                         "run 'edgekit models' for the list")
    return entry


def having(*knobs: str) -> list[str]:
    """The models that take every one of ``knobs``."""
    return [n for n, e in REGISTRY.items() if all(e.knob(k) for k in knobs)]


def all_knobs() -> list[Knob]:
    """Every knob of every model, once (the CLI offers their union). A knob that several
    models spell alike with different choices (--variant) is offered with all of them;
    each model checks its own when it is built."""
    seen: dict[str, Knob] = {}
    for e in REGISTRY.values():
        for k in e.knobs:
            first = seen.setdefault(k.name, k)
            if first.choices and k.choices and not set(k.choices) <= set(first.choices):
                seen[k.name] = replace(
                    first, default=None, help="variant of the model (each model's own: see "
                    "'edgekit models')" if k.name == "variant" else first.help,
                    choices=tuple(dict.fromkeys(first.choices + k.choices)))
    return list(seen.values())


# Zoo models are built from one seed: the same knobs give the same weights in every
# process, so files exported at different times (a cached .tflite now, its .onnx later)
# hold the same model.
BUILD_SEED = 0


def build(name: str, knobs: dict[str, Any]):
    """Validate ``knobs`` for ``name`` and build the Keras model (imports TensorFlow)."""
    entry = get(name)
    values = entry.validate(knobs)
    module, func = entry.builder.split(":")
    builder = getattr(importlib.import_module(module), func)
    from edgekit._tf import keras

    keras.utils.set_random_seed(BUILD_SEED)
    try:
        return builder(**entry.fixed, **values), values
    except ValueError as e:  # Keras shape errors for sizes a knob check cannot foresee
        raise EdgekitError(f"cannot build {name} with {values}: {first_line(e)}") from e
