"""MobileNet v2 (Sandler et al. 2018, "MobileNetV2: Inverted Residuals and Linear
Bottlenecks", arXiv:1801.04381).

The same layers and names as ``keras.applications.MobileNetV2`` (inverted residual blocks:
1x1 expansion x6 - 3x3 depthwise - linear 1x1 projection, with a residual add where the
shapes allow; channels rounded to multiples of 8; the last 1x1 conv keeps 1280 channels
for alpha <= 1), so parameter counts agree exactly (3,538,984 at alpha 1.0). ``alpha`` is
the width multiplier; the paper's Table 2 gives 300 M multiply-adds at alpha 1.0, 224 px.
"""

from __future__ import annotations

from edgekit._tf import keras
from edgekit.zoo._blocks import image_input

layers = keras.layers

# (expansion t, output channels c, repeats n, first stride s) -- the paper's Table 2
SETTINGS = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
            (6, 160, 3, 2), (6, 320, 1, 1)]


def make_divisible(v: float, divisor: int = 8) -> int:
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


def _bn(x, name):
    return layers.BatchNormalization(epsilon=1e-3, momentum=0.999, name=name)(x)


def _inverted_residual(x, expansion, stride, alpha, filters, block_id):
    in_channels = x.shape[-1]
    out_channels = make_divisible(int(filters * alpha))
    prefix = f"block_{block_id}_" if block_id else "expanded_conv_"
    y = x
    if block_id:
        y = layers.Conv2D(expansion * in_channels, 1, use_bias=False, name=f"{prefix}expand")(y)
        y = layers.ReLU(6.0, name=f"{prefix}expand_relu")(_bn(y, f"{prefix}expand_BN"))
    if stride == 2:  # keras' correct_pad for a 3x3 kernel
        adjust = (1 - y.shape[1] % 2, 1 - y.shape[2] % 2)
        y = layers.ZeroPadding2D(((1 - adjust[0], 1), (1 - adjust[1], 1)),
                                 name=f"{prefix}pad")(y)
    y = layers.DepthwiseConv2D(3, strides=stride, use_bias=False,
                               padding="same" if stride == 1 else "valid",
                               name=f"{prefix}depthwise")(y)
    y = layers.ReLU(6.0, name=f"{prefix}depthwise_relu")(_bn(y, f"{prefix}depthwise_BN"))
    y = layers.Conv2D(out_channels, 1, use_bias=False, name=f"{prefix}project")(y)
    y = _bn(y, f"{prefix}project_BN")
    if in_channels == out_channels and stride == 1:
        return layers.Add(name=f"{prefix}add")([x, y])
    return y


def mobilenet_v2(alpha: float = 1.0, resolution: int = 224, classes: int = 1000,
                 no_top: bool = False):
    """MobileNet v2 for a ``resolution`` x ``resolution`` x 3 input."""
    inputs = image_input(resolution)
    x = layers.Conv2D(make_divisible(32 * alpha), 3, strides=2, padding="same",
                      use_bias=False, name="Conv1")(inputs)
    x = layers.ReLU(6.0, name="Conv1_relu")(_bn(x, "bn_Conv1"))
    block_id = 0
    for t, c, n, s in SETTINGS:
        for i in range(n):
            x = _inverted_residual(x, t, s if i == 0 else 1, alpha, c, block_id)
            block_id += 1
    last = make_divisible(1280 * alpha) if alpha > 1.0 else 1280
    x = layers.Conv2D(last, 1, use_bias=False, name="Conv_1")(x)
    x = layers.ReLU(6.0, name="out_relu")(_bn(x, "Conv_1_bn"))
    if not no_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = layers.Dense(classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, x, name=f"mobilenetv2_{alpha:g}_{resolution}")
