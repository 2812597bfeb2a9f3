"""EfficientNet-Lite0..4 (Tan & Le 2019, "EfficientNet: Rethinking Model Scaling for
Convolutional Neural Networks", arXiv:1905.11946; the Lite variants are TensorFlow's official
edge models, tensorflow/tpu models/official/efficientnet/lite, 2020).

EfficientNet-B0's inverted residual stages, scaled by width and depth, with the changes the
official Lite builder makes for integer accelerators: no squeeze-and-excite, ReLU6 instead of
swish, the 32-channel stem and the 1280-channel head fixed (not scaled with width), and the
first and last stages' repeats fixed (not scaled with depth). Channels are rounded to
multiples of 8 as in the reference (never more than 10 % down). TensorFlow 'same' padding,
batch norm with epsilon 1e-3, a dropout before the classifier (0.2 for Lite0/1, 0.3 above).
Parameters and MACs agree with timm's port ``tf_efficientnet_lite*`` (Lite0: 4,652,008
parameters, 385 M MACs at 224 px).

The layer names are the Keras EfficientNet convention: ``stem_conv``, ``block2b_expand_conv``,
``block2b_dwconv``, ``block2b_project_conv``, ``block2b_add``, ``top_conv``.
"""

from __future__ import annotations

import math

from edgekit._tf import keras
from edgekit.zoo._blocks import image_input
from edgekit.zoo.mobilenet_v2 import make_divisible

layers = keras.layers

# (kernel, repeats, output channels, expansion, first stride) per stage: EfficientNet-B0
STAGES = [(3, 1, 16, 1, 1), (3, 2, 24, 6, 2), (5, 2, 40, 6, 2), (3, 3, 80, 6, 2),
          (5, 3, 112, 6, 1), (5, 4, 192, 6, 2), (3, 1, 320, 6, 1)]
# variant: (width, depth, resolution, dropout) -- the official efficientnet_lite_builder
SCALING = {"0": (1.0, 1.0, 224, 0.2), "1": (1.0, 1.1, 240, 0.2), "2": (1.1, 1.2, 260, 0.3),
           "3": (1.2, 1.4, 280, 0.3), "4": (1.4, 1.8, 300, 0.3)}
STEM, HEAD = 32, 1280


def _bn(x, name):
    return layers.BatchNormalization(epsilon=1e-3, momentum=0.99, name=name)(x)


def _relu6(x, name):
    return layers.ReLU(6.0, name=name)(x)


def stage_repeats(depth: float) -> list[int]:
    """Repeats per stage: ceil(repeats x depth), the first and last stages unscaled."""
    last = len(STAGES) - 1
    return [r if i in (0, last) else int(math.ceil(r * depth))
            for i, (_, r, _, _, _) in enumerate(STAGES)]


def _block(x, kernel, stride, expansion, filters, name):
    in_channels = x.shape[-1]
    y = x
    if expansion != 1:
        y = layers.Conv2D(in_channels * expansion, 1, padding="same", use_bias=False,
                          name=f"{name}expand_conv")(y)
        y = _relu6(_bn(y, f"{name}expand_bn"), f"{name}expand_activation")
    y = layers.DepthwiseConv2D(kernel, strides=stride, padding="same", use_bias=False,
                               name=f"{name}dwconv")(y)
    y = _relu6(_bn(y, f"{name}bn"), f"{name}activation")
    y = layers.Conv2D(filters, 1, padding="same", use_bias=False,
                      name=f"{name}project_conv")(y)
    y = _bn(y, f"{name}project_bn")
    if stride == 1 and in_channels == filters:
        return layers.Add(name=f"{name}add")([x, y])
    return y


def efficientnet_lite(variant: str = "0", resolution: int = 224, classes: int = 1000,
                      no_top: bool = False):
    """EfficientNet-Lite``variant`` for a ``resolution`` x ``resolution`` x 3 input."""
    width, depth, _, dropout = SCALING[variant]
    inputs = image_input(resolution)
    x = layers.Conv2D(STEM, 3, strides=2, padding="same", use_bias=False,
                      name="stem_conv")(inputs)
    x = _relu6(_bn(x, "stem_bn"), "stem_activation")
    for stage, ((kernel, _, filters, expansion, stride), repeats) in enumerate(
            zip(STAGES, stage_repeats(depth), strict=True)):
        for i in range(repeats):
            x = _block(x, kernel, stride if i == 0 else 1, expansion,
                       make_divisible(filters * width), f"block{stage + 1}{chr(97 + i)}_")
    x = layers.Conv2D(HEAD, 1, padding="same", use_bias=False, name="top_conv")(x)
    x = _relu6(_bn(x, "top_bn"), "top_activation")
    if not no_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = layers.Dropout(dropout, name="top_dropout")(x)
        x = layers.Dense(classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, x, name=f"efficientnet_lite{variant}_{resolution}")
