"""The classic plain CNNs: LeNet-5, AlexNet, VGG, Network in Network.

* LeNet-5 (LeCun et al. 1998, "Gradient-based learning applied to document recognition"):
  C1-S2-C3-S4-C5-F6 on a 32x32x1 input. Deliberate differences, as in every modern
  re-implementation: C3 connects every S2 map (the paper's partial connection table has
  1,516 weights, this has 2,416), S2/S4 are plain average pools (the paper's have a
  trainable coefficient and bias per map), and the output is a dense softmax layer instead
  of Euclidean RBF units. With 10 classes: 61,706 parameters.
* AlexNet (Krizhevsky et al. 2012): the single-tower layout on 227x227x3: 11x11/4 conv 96,
  5x5 conv 256, three 3x3 convs 384-384-256, max pools 3x3/2 after conv1, conv2, conv5,
  FC 4096-4096 with dropout 0.5. Differences: one tower instead of two GPUs (conv2, conv4
  and conv5 see all input channels, so there are more weights than the paper's 60 M:
  62,378,344 with 1000 classes), and no local response normalization (Keras has none;
  it was dropped by later work as it adds little).
* VGG-11/13/16/19 (Simonyan & Zisserman 2014): configurations A, B, D and E. Same layers
  and names as ``keras.applications.VGG16/VGG19`` (VGG-16: 138,357,544 parameters).
  ``batch_norm`` inserts batch norm after every convolution (the conv keeps its bias, as
  torchvision's vgg*_bn).
* Network in Network (Lin et al. 2013): four mlpconv blocks (a kxk convolution then two 1x1
  convolutions, all ReLU), max pools 3x3/2 after the first three, dropout 0.5, and global
  average pooling over a last block with one map per class instead of dense layers. The
  ImageNet layout (11x11/4-96, 5x5-256, 3x3-384, 3x3-classes) as the paper's released
  model and d2l.ai describe it.
"""

from __future__ import annotations

from edgekit._tf import keras
from edgekit.zoo._blocks import image_input

layers = keras.layers


def lenet5(classes: int = 10, activation: str = "tanh", resolution: int = 32):
    """LeNet-5 for a ``resolution`` x ``resolution`` x 1 input (32 in the paper)."""
    inputs = image_input(resolution, channels=1)
    x = layers.Conv2D(6, 5, activation=activation, name="c1")(inputs)
    x = layers.AveragePooling2D(2, name="s2")(x)
    x = layers.Conv2D(16, 5, activation=activation, name="c3")(x)
    x = layers.AveragePooling2D(2, name="s4")(x)
    x = layers.Conv2D(120, 5, activation=activation, name="c5")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(84, activation=activation, name="f6")(x)
    x = layers.Dense(classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, x, name="lenet5")


def alexnet(classes: int = 1000, resolution: int = 227):
    """Single-tower AlexNet."""
    inputs = image_input(resolution)
    x = layers.Conv2D(96, 11, strides=4, activation="relu", name="conv1")(inputs)
    x = layers.MaxPooling2D(3, strides=2, name="pool1")(x)
    x = layers.Conv2D(256, 5, padding="same", activation="relu", name="conv2")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool2")(x)
    for i, filters in ((3, 384), (4, 384), (5, 256)):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"conv{i}")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool5")(x)
    x = layers.Flatten(name="flatten")(x)
    for i in (6, 7):
        x = layers.Dense(4096, activation="relu", name=f"fc{i}")(x)
        x = layers.Dropout(0.5, name=f"drop{i}")(x)
    x = layers.Dense(classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, x, name="alexnet")


# convolutions per block for configurations A (11), B (13), D (16), E (19)
VGG_BLOCKS = {11: (1, 1, 2, 2, 2), 13: (2, 2, 2, 2, 2), 16: (2, 2, 3, 3, 3),
              19: (2, 2, 4, 4, 4)}
VGG_WIDTHS = (64, 128, 256, 512, 512)


def vgg(depth: int = 16, classes: int = 1000, resolution: int = 224, batch_norm: bool = False,
        no_top: bool = False):
    """VGG-``depth`` (11, 13, 16 or 19)."""
    inputs = image_input(resolution)
    x = inputs
    for b, (convs, width) in enumerate(zip(VGG_BLOCKS[depth], VGG_WIDTHS, strict=True),
                                       start=1):
        for c in range(1, convs + 1):
            name = f"block{b}_conv{c}"
            if batch_norm:
                x = layers.Conv2D(width, 3, padding="same", name=name)(x)
                x = layers.BatchNormalization(name=f"{name}_bn")(x)
                x = layers.Activation("relu", name=f"{name}_relu")(x)
            else:
                x = layers.Conv2D(width, 3, padding="same", activation="relu", name=name)(x)
        x = layers.MaxPooling2D(2, strides=2, name=f"block{b}_pool")(x)
    if not no_top:
        x = layers.Flatten(name="flatten")(x)
        x = layers.Dense(4096, activation="relu", name="fc1")(x)
        x = layers.Dense(4096, activation="relu", name="fc2")(x)
        x = layers.Dense(classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, x, name=f"vgg{depth}" + ("_bn" if batch_norm else ""))


def _mlpconv(x, filters, kernel, strides, padding, name):
    x = layers.Conv2D(filters, kernel, strides=strides, padding=padding, activation="relu",
                      name=f"{name}_conv")(x)
    x = layers.Conv2D(filters, 1, activation="relu", name=f"{name}_mlp1")(x)
    return layers.Conv2D(filters, 1, activation="relu", name=f"{name}_mlp2")(x)


def nin(classes: int = 1000, resolution: int = 224):
    """Network in Network (ImageNet layout)."""
    inputs = image_input(resolution)
    x = _mlpconv(inputs, 96, 11, 4, "valid", "block1")
    x = layers.MaxPooling2D(3, strides=2, name="pool1")(x)
    x = _mlpconv(x, 256, 5, 1, "same", "block2")
    x = layers.MaxPooling2D(3, strides=2, name="pool2")(x)
    x = _mlpconv(x, 384, 3, 1, "same", "block3")
    x = layers.MaxPooling2D(3, strides=2, name="pool3")(x)
    x = layers.Dropout(0.5, name="dropout")(x)
    x = _mlpconv(x, classes, 3, 1, "same", "block4")
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    x = layers.Activation("softmax", name="predictions")(x)
    return keras.Model(inputs, x, name="nin")
