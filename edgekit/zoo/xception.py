"""Xception (Chollet 2017, "Xception: Deep Learning with Depthwise Separable Convolutions",
arXiv:1610.02357).

The same layers as ``keras.applications.Xception`` (so parameter counts agree exactly);
the difference is that the shortcut convolutions, which Keras leaves unnamed, are named
``blockN_shortcut`` / ``blockN_shortcut_bn``.
"""

from __future__ import annotations

from edgekit._tf import keras
from edgekit.zoo._blocks import classifier, conv_bn, image_input

layers = keras.layers


def _sepconv_bn(x, filters, name, act_before=True):
    if act_before:
        x = layers.Activation("relu", name=f"{name}_act")(x)
    x = layers.SeparableConv2D(filters, (3, 3), padding="same", use_bias=False, name=name)(x)
    return layers.BatchNormalization(name=f"{name}_bn")(x)


def _downsampling_block(x, block, filters, first_act=True):
    """Entry/exit flow: two separable convs, 3x3/2 max pool, plus a strided 1x1 shortcut."""
    f1, f2 = filters
    shortcut = layers.Conv2D(f2, (1, 1), strides=2, padding="same", use_bias=False,
                             name=f"block{block}_shortcut")(x)
    shortcut = layers.BatchNormalization(name=f"block{block}_shortcut_bn")(shortcut)
    x = _sepconv_bn(x, f1, f"block{block}_sepconv1", act_before=first_act)
    x = _sepconv_bn(x, f2, f"block{block}_sepconv2")
    x = layers.MaxPooling2D((3, 3), strides=2, padding="same", name=f"block{block}_pool")(x)
    return layers.Add(name=f"block{block}_add")([x, shortcut])


def xception(classes: int = 1000, resolution: int = 299, no_top: bool = False):
    """Build Xception for a ``resolution`` x ``resolution`` x 3 input (default 299)."""
    inputs = image_input(resolution)
    # entry flow
    x = conv_bn(inputs, 32, 3, "block1_conv1", strides=2, padding="valid", act="relu")
    x = conv_bn(x, 64, 3, "block1_conv2", padding="valid", act="relu")
    x = _downsampling_block(x, 2, (128, 128), first_act=False)
    x = _downsampling_block(x, 3, (256, 256))
    x = _downsampling_block(x, 4, (728, 728))
    # middle flow: 8 residual blocks of three separable convs
    for block in range(5, 13):
        y = x
        for k in (1, 2, 3):
            y = _sepconv_bn(y, 728, f"block{block}_sepconv{k}")
        x = layers.Add(name=f"block{block}_add")([y, x])
    # exit flow
    x = _downsampling_block(x, 13, (728, 1024))
    for k, filters in ((1, 1536), (2, 2048)):
        x = _sepconv_bn(x, filters, f"block14_sepconv{k}", act_before=False)
        x = layers.Activation("relu", name=f"block14_sepconv{k}_act")(x)
    if not no_top:
        x = classifier(x, classes)
    return keras.Model(inputs, x, name="xception")
