"""DenseNet-121/169/201 (Huang et al. 2017, "Densely Connected Convolutional Networks").

The same layers and names as ``keras.applications.DenseNet121/169/201`` (BN-ReLU-1x1 conv
to 4k channels - BN-ReLU-3x3 conv to k channels, concatenated; transitions halve the
channels with a 1x1 conv and a 2x2 average pool), so parameter counts agree exactly
(DenseNet-121: 8,062,504). ``growth_rate`` is k (32 in the paper's ImageNet models).
"""

from __future__ import annotations

from edgekit._tf import keras
from edgekit.zoo._blocks import image_input

layers = keras.layers
BLOCKS = {121: (6, 12, 24, 16), 169: (6, 12, 32, 32), 201: (6, 12, 48, 32)}
EPS = 1.001e-5


def _bn_relu(x, name):
    x = layers.BatchNormalization(epsilon=EPS, name=f"{name}_bn")(x)
    return layers.Activation("relu", name=f"{name}_relu")(x)


def _conv_block(x, growth_rate, name):
    y = _bn_relu(x, f"{name}_0")
    y = layers.Conv2D(4 * growth_rate, 1, use_bias=False, name=f"{name}_1_conv")(y)
    y = _bn_relu(y, f"{name}_1")
    y = layers.Conv2D(growth_rate, 3, padding="same", use_bias=False, name=f"{name}_2_conv")(y)
    return layers.Concatenate(name=f"{name}_concat")([x, y])


def _transition(x, name):
    x = _bn_relu(x, name)
    x = layers.Conv2D(int(x.shape[-1] * 0.5), 1, use_bias=False, name=f"{name}_conv")(x)
    return layers.AveragePooling2D(2, strides=2, name=f"{name}_pool")(x)


def densenet(depth: int = 121, classes: int = 1000, resolution: int = 224,
             growth_rate: int = 32, no_top: bool = False):
    """DenseNet-``depth`` (121, 169 or 201)."""
    inputs = image_input(resolution)
    x = layers.ZeroPadding2D(3, name="conv1_pad")(inputs)
    x = layers.Conv2D(64, 7, strides=2, use_bias=False, name="conv1_conv")(x)
    x = _bn_relu(x, "conv1")
    x = layers.ZeroPadding2D(1, name="pool1_pad")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1")(x)
    for stage, blocks in enumerate(BLOCKS[depth], start=2):
        for i in range(1, blocks + 1):
            x = _conv_block(x, growth_rate, f"conv{stage}_block{i}")
        if stage < 5:
            x = _transition(x, f"pool{stage}")
    x = layers.BatchNormalization(epsilon=EPS, name="bn")(x)
    x = layers.Activation("relu", name="relu")(x)
    if not no_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = layers.Dense(classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, x, name=f"densenet{depth}")
