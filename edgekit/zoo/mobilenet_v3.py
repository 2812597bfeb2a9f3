"""MobileNet v3 (Howard et al. 2019, "Searching for MobileNetV3", arXiv:1905.02244).

The same layers, in the same order and with the same names, as
``keras.applications.MobileNetV3Small`` / ``MobileNetV3Large``: inverted residual blocks
(1x1 expansion - depthwise 3x3/5x5 - optional squeeze-and-excite - linear 1x1 projection,
residual add where the shapes allow), hard-swish in the later blocks, channels rounded to
multiples of 8, and the paper's "efficient last stage": a 1x1 conv to 6x the last block's
channels, global average pooling, then a 1x1 conv with bias (1024 / 1280 channels) and the
1x1 classifier conv. Parameter counts equal keras.applications' for every ``alpha`` and
``minimalistic`` setting (Large 1.0: 5,507,432; Small 1.0: 2,554,968).

``minimalistic`` is the paper's variant without squeeze-and-excite, hard-swish or 5x5
kernels (ReLU and 3x3 everywhere). ``alpha`` scales every block's channels (rounded to 8)
and the head conv only for alpha > 1; the 16-channel stem is fixed, as in Keras and the
TensorFlow reference.

Deliberate differences from keras.applications:
* no ``Rescaling`` layer at the input: like every zoo model this one takes preprocessed
  input in [-1, 1] (``export --preprocess tf``); Keras' layer maps 0..255 to the same range
  and has no weights, so parameters and MACs are unchanged;
* every activation is a named layer (``expanded_conv_3_expand_hard_swish``,
  ``expanded_conv_3_squeeze_excite_hard_sigmoid``) instead of Keras' automatic names and the
  ``x + 3`` / ``* 1/6`` operator layers of its hard sigmoid (the same function:
  ReLU6(x + 3) / 6).
"""

from __future__ import annotations

from edgekit._tf import keras
from edgekit.zoo._blocks import image_input
from edgekit.zoo.mobilenet_v2 import make_divisible

layers = keras.layers

# (expansion, output channels, kernel, stride, squeeze-excite, hard-swish) per block:
# the paper's Tables 1 (Large) and 2 (Small), as keras.applications writes them.
# "K" is the variant's big kernel (5, or 3 when minimalistic).
LARGE = [(1, 16, 3, 1, False, False), (4, 24, 3, 2, False, False),
         (3, 24, 3, 1, False, False), (3, 40, "K", 2, True, False),
         (3, 40, "K", 1, True, False), (3, 40, "K", 1, True, False),
         (6, 80, 3, 2, False, True), (2.5, 80, 3, 1, False, True),
         (2.3, 80, 3, 1, False, True), (2.3, 80, 3, 1, False, True),
         (6, 112, 3, 1, True, True), (6, 112, 3, 1, True, True),
         (6, 160, "K", 2, True, True), (6, 160, "K", 1, True, True),
         (6, 160, "K", 1, True, True)]
SMALL = [(1, 16, 3, 2, True, False), (72 / 16, 24, 3, 2, False, False),
         (88 / 24, 24, 3, 1, False, False), (4, 40, "K", 2, True, True),
         (6, 40, "K", 1, True, True), (6, 40, "K", 1, True, True),
         (3, 48, "K", 1, True, True), (3, 48, "K", 1, True, True),
         (6, 96, "K", 2, True, True), (6, 96, "K", 1, True, True),
         (6, 96, "K", 1, True, True)]
BLOCKS = {"large": LARGE, "small": SMALL}
HEAD_CHANNELS = {"large": 1280, "small": 1024}
SE_RATIO = 0.25


def _bn(x, name):
    return layers.BatchNormalization(epsilon=1e-3, momentum=0.999, name=name)(x)


def _act(x, hard_swish: bool, name: str):
    if hard_swish:
        return layers.Activation("hard_swish", name=f"{name}_hard_swish")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def _squeeze_excite(x, filters, prefix):
    s = layers.GlobalAveragePooling2D(keepdims=True, name=f"{prefix}squeeze_excite_avg_pool")(x)
    s = layers.Conv2D(make_divisible(filters * SE_RATIO), 1, padding="same",
                      name=f"{prefix}squeeze_excite_conv")(s)
    s = layers.ReLU(name=f"{prefix}squeeze_excite_relu")(s)
    s = layers.Conv2D(filters, 1, padding="same", name=f"{prefix}squeeze_excite_conv_1")(s)
    s = layers.Activation("hard_sigmoid", name=f"{prefix}squeeze_excite_hard_sigmoid")(s)
    return layers.Multiply(name=f"{prefix}squeeze_excite_mul")([x, s])


def _inverted_residual(x, expansion, filters, kernel, stride, se, hard_swish, block_id):
    in_channels = x.shape[-1]
    prefix = f"expanded_conv_{block_id}_" if block_id else "expanded_conv_"
    expanded = make_divisible(in_channels * expansion)
    y = x
    if block_id:
        y = layers.Conv2D(expanded, 1, padding="same", use_bias=False,
                          name=f"{prefix}expand")(y)
        y = _act(_bn(y, f"{prefix}expand_bn"), hard_swish, f"{prefix}expand")
    if stride == 2:  # keras' correct_pad: TensorFlow's 'same' split, explicit
        adjust = (1 - y.shape[1] % 2, 1 - y.shape[2] % 2)
        half = kernel // 2
        y = layers.ZeroPadding2D(((half - adjust[0], half), (half - adjust[1], half)),
                                 name=f"{prefix}depthwise_pad")(y)
    y = layers.DepthwiseConv2D(kernel, strides=stride, use_bias=False,
                               padding="same" if stride == 1 else "valid",
                               name=f"{prefix}depthwise")(y)
    y = _act(_bn(y, f"{prefix}depthwise_bn"), hard_swish, f"{prefix}depthwise")
    if se:
        y = _squeeze_excite(y, expanded, prefix)
    y = layers.Conv2D(filters, 1, padding="same", use_bias=False, name=f"{prefix}project")(y)
    y = _bn(y, f"{prefix}project_bn")
    if stride == 1 and in_channels == filters:
        return layers.Add(name=f"{prefix}add")([x, y])
    return y


def mobilenet_v3(variant: str = "large", alpha: float = 1.0, minimalistic: bool = False,
                 resolution: int = 224, classes: int = 1000, no_top: bool = False):
    """MobileNet v3 Large or Small for a ``resolution`` x ``resolution`` x 3 input."""
    inputs = image_input(resolution)
    # minimalistic: ReLU everywhere, 3x3 kernels, no squeeze-and-excite
    big_kernel = 3 if minimalistic else 5
    x = layers.Conv2D(16, 3, strides=2, padding="same", use_bias=False, name="conv")(inputs)
    x = _act(_bn(x, "conv_bn"), not minimalistic, "conv")
    for block_id, (t, c, k, s, se, hs) in enumerate(BLOCKS[variant]):
        x = _inverted_residual(x, t, make_divisible(c * alpha),
                               big_kernel if k == "K" else k, s,
                               se and not minimalistic, hs and not minimalistic, block_id)
    x = layers.Conv2D(make_divisible(x.shape[-1] * 6), 1, padding="same", use_bias=False,
                      name="conv_1")(x)
    x = _act(_bn(x, "conv_1_bn"), not minimalistic, "conv_1")
    if not no_top:
        head = HEAD_CHANNELS[variant]
        if alpha > 1.0:
            head = make_divisible(head * alpha)
        x = layers.GlobalAveragePooling2D(keepdims=True, name="avg_pool")(x)
        x = layers.Conv2D(head, 1, padding="same", use_bias=True, name="conv_2")(x)
        x = _act(x, not minimalistic, "conv_2")
        x = layers.Dropout(0.2, name="dropout")(x)
        x = layers.Conv2D(classes, 1, padding="same", name="logits")(x)
        x = layers.Flatten(name="flatten")(x)
        x = layers.Activation("softmax", name="predictions")(x)
    tag = "_minimalistic" if minimalistic else ""
    return keras.Model(inputs, x, name=f"mobilenetv3_{variant}{tag}_{alpha:g}_{resolution}")
