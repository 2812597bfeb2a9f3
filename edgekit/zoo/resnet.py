"""ResNet-18/34/50/101/152 (He et al. 2015, "Deep Residual Learning for Image Recognition",
arXiv:1512.03385, Table 1).

* Basic blocks (two 3x3 convs) for 18/34; bottlenecks (1x1, 3x3, 1x1 with 4x expansion)
  for 50/101/152. Blocks per stage: 18: 2-2-2-2, 34/50: 3-4-6-3, 101: 3-4-23-3, 152: 3-8-36-3.
* Convolutions have no bias and are followed by batch norm; the shortcut is the identity,
  or a 1x1 projection + batch norm where the shape changes (the paper's option B).
* Where the stride sits in a bottleneck: ``variant="v1"`` (default) puts the stride-2 on the
  first 1x1 conv, as in the paper's released models and ``keras.applications.ResNet50``;
  ``variant="v1.5"`` puts it on the 3x3 conv, as torchvision does (same params, more MACs,
  slightly better accuracy). Basic blocks always stride the first 3x3.
* Deliberate difference from ``keras.applications.ResNet50``: Keras gives its convolutions a
  bias, which the paper does not; trainable parameter counts here equal torchvision's
  (e.g. ResNet-50: 25,557,032), and Keras counts the batch-norm moving statistics as
  non-trainable parameters on top.
"""

from __future__ import annotations

from edgekit._tf import keras
from edgekit.zoo._blocks import classifier, conv_bn, image_input

layers = keras.layers

DEPTHS = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3), 50: (3, 4, 6, 3),
          101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}
WIDTHS = (64, 128, 256, 512)


def _basic_block(x, width, stride, name, variant):
    out_channels = width
    shortcut = x
    if stride != 1 or x.shape[-1] != out_channels:
        shortcut = conv_bn(x, out_channels, 1, f"{name}_shortcut", strides=stride, act=None)
    y = conv_bn(x, width, 3, f"{name}_1", strides=stride)
    y = conv_bn(y, width, 3, f"{name}_2", act=None)
    y = layers.Add(name=f"{name}_add")([y, shortcut])
    return layers.Activation("relu", name=f"{name}_out")(y)


def _bottleneck(x, width, stride, name, variant, inner=None, groups=1):
    """1x1 (to ``inner``, default ``width``) - 3x3 (``groups`` groups) - 1x1 (to 4 x width)."""
    out_channels = 4 * width
    inner = inner or width
    shortcut = x
    if stride != 1 or x.shape[-1] != out_channels:
        shortcut = conv_bn(x, out_channels, 1, f"{name}_shortcut", strides=stride, act=None)
    s1, s3 = (stride, 1) if variant == "v1" else (1, stride)
    y = conv_bn(x, inner, 1, f"{name}_1", strides=s1)
    y = layers.Conv2D(inner, 3, strides=s3, padding="same", use_bias=False, groups=groups,
                      name=f"{name}_2")(y)
    y = layers.BatchNormalization(name=f"{name}_2_bn")(y)
    y = layers.Activation("relu", name=f"{name}_2_relu")(y)
    y = conv_bn(y, out_channels, 1, f"{name}_3", act=None)
    y = layers.Add(name=f"{name}_add")([y, shortcut])
    return layers.Activation("relu", name=f"{name}_out")(y)


def _network(inputs, depth: int, block, classes: int, no_top: bool, name: str):
    """The body both families share: a 7x7 stem and max pool, then four stages of
    ``block(x, stage, stride, name)`` (stride 2 on the first block of stages 3 to 5), then
    the classifier."""
    x = conv_bn(inputs, 64, 7, "conv1", strides=2)
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool1")(x)
    for stage, blocks in enumerate(DEPTHS[depth], start=2):
        for b in range(1, blocks + 1):
            stride = 2 if (b == 1 and stage > 2) else 1
            x = block(x, stage, stride, f"conv{stage}_block{b}")
    if not no_top:
        x = classifier(x, classes)
    return keras.Model(inputs, x, name=name)


def resnet(depth: int = 50, classes: int = 1000, resolution: int = 224,
           variant: str = "v1", no_top: bool = False):
    """Build ResNet-``depth`` (18, 34, 50, 101 or 152)."""
    if depth not in DEPTHS:
        raise ValueError(f"depth must be one of {sorted(DEPTHS)}")
    unit = _basic_block if depth < 50 else _bottleneck

    def block(x, stage, stride, name):
        return unit(x, WIDTHS[stage - 2], stride, name, variant)

    return _network(image_input(resolution), depth, block, classes, no_top, f"resnet{depth}")


def resnext(depth: int = 50, classes: int = 1000, resolution: int = 224,
            cardinality: int = 32, width: int = 4, no_top: bool = False):
    """ResNeXt-``depth`` (Xie et al. 2017, "Aggregated Residual Transformations for Deep
    Neural Networks", arXiv:1611.05431): ResNet's bottleneck with its 3x3 convolution split
    into ``cardinality`` groups of ``width`` channels (the "32x4d" of ResNeXt-50 32x4d):
    inner widths C*d*2^k = 128, 256, 512, 1024 for the four stages, outputs 256 ... 2048 as
    in ResNet. The stride sits on the grouped 3x3, as in the paper's implementation (and
    torchvision, whose resnext50_32x4d has the same 25,028,904 trainable parameters).
    """
    if depth not in DEPTHS or depth < 50:
        raise ValueError("ResNeXt depth must be 50, 101 or 152")

    def block(x, stage, stride, name):
        return _bottleneck(x, WIDTHS[stage - 2], stride, name, "v1.5",
                           inner=cardinality * width * 2 ** (stage - 2), groups=cardinality)

    return _network(image_input(resolution), depth, block, classes, no_top,
                    f"resnext{depth}_{cardinality}x{width}d")
