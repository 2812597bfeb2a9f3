"""MobileNet v1 (Howard et al. 2017, "MobileNets: Efficient Convolutional Neural Networks
for Mobile Vision Applications", arXiv:1704.04861).

Layer for layer the same as ``keras.applications.MobileNet`` (same names, same padding: a
stride-2 depthwise conv is preceded by a (0,1) zero pad and runs 'valid'), so parameter counts
agree exactly. The classifier is the paper's fully connected layer, written as Keras writes
it: global average pooling, dropout, a 1x1 convolution with bias, reshape, softmax.

Knobs: ``alpha`` is the width multiplier (channels = int(c * alpha)); the resolution
multiplier rho of the paper is expressed as the input resolution (224 * rho);
``depth_multiplier`` is the depthwise channel multiplier, a different thing from rho.
"""

from __future__ import annotations

from edgekit._tf import keras
from edgekit.zoo._blocks import image_input

layers = keras.layers

# (pointwise filters, stride) for blocks 1..13 (paper Table 1)
BLOCKS = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
          (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1)]


def _depthwise_separable(x, filters, alpha, depth_multiplier, stride, block_id):
    if stride == 1:
        padding = "same"
    else:
        x = layers.ZeroPadding2D(((0, 1), (0, 1)), name=f"conv_pad_{block_id}")(x)
        padding = "valid"
    x = layers.DepthwiseConv2D((3, 3), padding=padding, depth_multiplier=depth_multiplier,
                               strides=stride, use_bias=False, name=f"conv_dw_{block_id}")(x)
    x = layers.BatchNormalization(name=f"conv_dw_{block_id}_bn")(x)
    x = layers.ReLU(6.0, name=f"conv_dw_{block_id}_relu")(x)
    x = layers.Conv2D(int(filters * alpha), (1, 1), padding="same", use_bias=False,
                      name=f"conv_pw_{block_id}")(x)
    x = layers.BatchNormalization(name=f"conv_pw_{block_id}_bn")(x)
    return layers.ReLU(6.0, name=f"conv_pw_{block_id}_relu")(x)


def mobilenet_v1(alpha: float = 1.0, resolution: int = 224, depth_multiplier: int = 1,
                 classes: int = 1000, dropout: float = 1e-3, no_top: bool = False):
    """Build MobileNet v1 for a ``resolution`` x ``resolution`` x 3 input."""
    inputs = image_input(resolution)
    x = layers.Conv2D(int(32 * alpha), (3, 3), padding="same", use_bias=False, strides=2,
                      name="conv1")(inputs)
    x = layers.BatchNormalization(name="conv1_bn")(x)
    x = layers.ReLU(6.0, name="conv1_relu")(x)
    for block_id, (filters, stride) in enumerate(BLOCKS, start=1):
        x = _depthwise_separable(x, filters, alpha, depth_multiplier, stride, block_id)
    if not no_top:
        x = layers.GlobalAveragePooling2D(keepdims=True, name="avg_pool")(x)
        x = layers.Dropout(dropout, name="dropout")(x)
        x = layers.Conv2D(classes, (1, 1), padding="same", name="conv_preds")(x)
        x = layers.Reshape((classes,), name="reshape")(x)
        x = layers.Activation("softmax", name="predictions")(x)
    return keras.Model(inputs, x, name=f"mobilenet_{alpha:g}_{resolution}")
