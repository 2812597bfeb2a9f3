"""MobileNet v4, the convolutional models (Qin et al. 2024, "MobileNetV4: Universal Models for
the Mobile Ecosystem", arXiv:2404.10518).

Conv-S and Conv-M as the paper's tables define them and as timm ports them
(``mobilenetv4_conv_small`` / ``mobilenetv4_conv_medium``, block strings in timm's
``mobilenetv3.py``): a 3x3 stride-2 stem, then

* ``cn`` blocks: conv - batch norm - ReLU (Conv-S's first two stages);
* ``er`` FusedIB (Conv-M's first stage): a full kxk expansion conv, then a linear 1x1 projection;
* ``uir`` Universal Inverted Bottlenecks: an optional depthwise conv before the expansion
  (``dw_start``, no activation), the 1x1 expansion, an optional depthwise conv after it
  (``dw_mid``), the linear 1x1 projection. With both depthwise convs it is the paper's
  ExtraDW, with the middle one only the classic inverted bottleneck (IB), with the first one
  only ConvNext-like, with neither the FFN. The stride is taken by ``dw_mid`` when there is
  one, otherwise by ``dw_start``; a residual add where the shapes allow;

then a 1x1 conv to 960 channels, global average pooling, a 1x1 conv to 1280 channels with batch
norm and ReLU (no bias), and the classifier. Expanded channels are rounded to multiples of 8.
Parameters and MACs agree with timm's (Conv-S: 3,774,024 parameters, 186 M MACs at 224 px).

Deliberate difference: TensorFlow 'same' padding where timm pads symmetrically (PyTorch
style); the output shapes, parameters and MACs are the same.
"""

from __future__ import annotations

from edgekit._tf import keras
from edgekit.zoo._blocks import image_input
from edgekit.zoo.mobilenet_v2 import make_divisible

layers = keras.layers

# Blocks per variant, as timm's block strings (r repeats folded out):
#   ("cn", kernel, stride, out)
#   ("er", kernel, stride, expansion, out)
#   ("uir", start dw kernel (0: none), middle dw kernel (0: none), stride, expansion, out)
CONV_SMALL = [
    ("cn", 3, 2, 32), ("cn", 1, 1, 32),
    ("cn", 3, 2, 96), ("cn", 1, 1, 64),
    ("uir", 5, 5, 2, 3, 96), *[("uir", 0, 3, 1, 2, 96)] * 4, ("uir", 3, 0, 1, 4, 96),
    ("uir", 3, 3, 2, 6, 128), ("uir", 5, 5, 1, 4, 128), ("uir", 0, 5, 1, 4, 128),
    ("uir", 0, 5, 1, 3, 128), *[("uir", 0, 3, 1, 4, 128)] * 2,
    ("cn", 1, 1, 960),
]
CONV_MEDIUM = [
    ("er", 3, 2, 4, 48),
    ("uir", 3, 5, 2, 4, 80), ("uir", 3, 3, 1, 2, 80),
    ("uir", 3, 5, 2, 6, 160), *[("uir", 3, 3, 1, 4, 160)] * 2, ("uir", 3, 5, 1, 4, 160),
    ("uir", 3, 3, 1, 4, 160), ("uir", 3, 0, 1, 4, 160), ("uir", 0, 0, 1, 2, 160),
    ("uir", 3, 0, 1, 4, 160),
    ("uir", 5, 5, 2, 6, 256), ("uir", 5, 5, 1, 4, 256), *[("uir", 3, 5, 1, 4, 256)] * 2,
    ("uir", 0, 0, 1, 4, 256), ("uir", 3, 0, 1, 4, 256), ("uir", 3, 5, 1, 2, 256),
    ("uir", 5, 5, 1, 4, 256), *[("uir", 0, 0, 1, 4, 256)] * 2, ("uir", 5, 0, 1, 2, 256),
    ("cn", 1, 1, 960),
]
VARIANTS = {"conv_small": CONV_SMALL, "conv_medium": CONV_MEDIUM}
STEM, HEAD = 32, 1280


def _conv_bn(x, filters, kernel, stride, name, act=True, depthwise=False):
    if depthwise:
        x = layers.DepthwiseConv2D(kernel, strides=stride, padding="same", use_bias=False,
                                   name=name)(x)
    else:
        x = layers.Conv2D(filters, kernel, strides=stride, padding="same", use_bias=False,
                          name=name)(x)
    x = layers.BatchNormalization(epsilon=1e-5, momentum=0.9, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x) if act else x


def _residual(x, y, stride, name):
    if stride == 1 and x.shape[-1] == y.shape[-1]:
        return layers.Add(name=f"{name}_add")([x, y])
    return y


def _universal_inverted_bottleneck(x, start, mid, stride, expansion, filters, name):
    y = x
    if start:
        y = _conv_bn(y, None, start, 1 if mid else stride, f"{name}_dw_start", act=False,
                     depthwise=True)
    y = _conv_bn(y, make_divisible(x.shape[-1] * expansion), 1, 1, f"{name}_expand")
    if mid:
        y = _conv_bn(y, None, mid, stride, f"{name}_dw_mid", depthwise=True)
    y = _conv_bn(y, filters, 1, 1, f"{name}_project", act=False)
    return _residual(x, y, stride, name)


def _fused_inverted_bottleneck(x, kernel, stride, expansion, filters, name):
    y = _conv_bn(x, make_divisible(x.shape[-1] * expansion), kernel, stride, f"{name}_expand")
    y = _conv_bn(y, filters, 1, 1, f"{name}_project", act=False)
    return _residual(x, y, stride, name)


def mobilenet_v4(variant: str = "conv_small", resolution: int = 224, classes: int = 1000,
                 no_top: bool = False):
    """MobileNet v4 Conv-S or Conv-M for a ``resolution`` x ``resolution`` x 3 input."""
    inputs = image_input(resolution)
    x = _conv_bn(inputs, STEM, 3, 2, "stem")
    for i, (kind, *args) in enumerate(VARIANTS[variant]):
        name = f"block_{i}"
        if kind == "cn":
            kernel, stride, filters = args
            x = _conv_bn(x, filters, kernel, stride, f"{name}_conv")
        elif kind == "er":
            x = _fused_inverted_bottleneck(x, *args, name)
        else:
            x = _universal_inverted_bottleneck(x, *args, name)
    if not no_top:
        x = layers.GlobalAveragePooling2D(keepdims=True, name="avg_pool")(x)
        x = _conv_bn(x, HEAD, 1, 1, "head_conv")
        x = layers.Flatten(name="flatten")(x)
        x = layers.Dense(classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, x, name=f"mobilenetv4_{variant}_{resolution}")
