"""GoogLeNet (Inception v1) and Inception v3.

* GoogLeNet (Szegedy et al. 2014, "Going Deeper with Convolutions", Table 1): the stem
  (7x7/2 conv 64, 3x3/2 max pool, 1x1 conv 64, 3x3 conv 192, 3x3/2 max pool), the nine
  inception modules 3a-5b with the table's #1x1 / #3x3 reduce / #3x3 / #5x5 reduce / #5x5 /
  pool proj widths, 7x7 average pooling, dropout 0.4 and a linear softmax classifier.
  ``aux_classifiers`` adds the two training-time heads on 4a and 4d (5x5/3 average pool,
  1x1 conv 128, FC 1024, dropout 0.7, softmax), as extra model outputs. Differences: no
  local response normalization (Keras has none), and "same" padding everywhere so the
  feature maps are 112-56-28-14-7 as the table lists.
* Inception v3 (Szegedy et al. 2015, "Rethinking the Inception Architecture"): the same
  layers as ``keras.applications.InceptionV3`` (convolutions without bias followed by batch
  norm without scale), so parameter counts agree exactly (23,851,784 with 1000 classes);
  the branches are named (``mixed4_7x7dbl_3``) where Keras numbers them.
"""

from __future__ import annotations

from edgekit._tf import keras
from edgekit.zoo._blocks import image_input

layers = keras.layers

# name: (#1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj) -- Table 1
GOOGLENET_MODULES = {
    "3a": (64, 96, 128, 16, 32, 32), "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64), "4b": (160, 112, 224, 24, 64, 64),
    "4c": (128, 128, 256, 24, 64, 64), "4d": (112, 144, 288, 32, 64, 64),
    "4e": (256, 160, 320, 32, 128, 128), "5a": (256, 160, 320, 32, 128, 128),
    "5b": (384, 192, 384, 48, 128, 128),
}


def _conv(x, filters, kernel, name, strides=1):
    return layers.Conv2D(filters, kernel, strides=strides, padding="same", activation="relu",
                         name=name)(x)


def _inception_v1(x, name, widths):
    c1, r3, c3, r5, c5, pp = widths
    b1 = _conv(x, c1, 1, f"inception_{name}_1x1")
    b3 = _conv(_conv(x, r3, 1, f"inception_{name}_3x3_reduce"), c3, 3, f"inception_{name}_3x3")
    b5 = _conv(_conv(x, r5, 1, f"inception_{name}_5x5_reduce"), c5, 5, f"inception_{name}_5x5")
    bp = layers.MaxPooling2D(3, strides=1, padding="same", name=f"inception_{name}_pool")(x)
    bp = _conv(bp, pp, 1, f"inception_{name}_pool_proj")
    return layers.Concatenate(name=f"inception_{name}_concat")([b1, b3, b5, bp])


def _aux_head(x, name, classes):
    x = layers.AveragePooling2D(5, strides=3, name=f"{name}_pool")(x)
    x = _conv(x, 128, 1, f"{name}_conv")
    x = layers.Flatten(name=f"{name}_flatten")(x)
    x = layers.Dense(1024, activation="relu", name=f"{name}_fc")(x)
    x = layers.Dropout(0.7, name=f"{name}_dropout")(x)
    return layers.Dense(classes, activation="softmax", name=f"{name}_predictions")(x)


def googlenet(classes: int = 1000, resolution: int = 224, aux_classifiers: bool = False):
    """GoogLeNet per Table 1 of the paper."""
    inputs = image_input(resolution)
    x = _conv(inputs, 64, 7, "conv1_7x7", strides=2)
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool1")(x)
    x = _conv(x, 64, 1, "conv2_3x3_reduce")
    x = _conv(x, 192, 3, "conv2_3x3")
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool2")(x)
    aux = []
    for name, widths in GOOGLENET_MODULES.items():
        if name in ("4a", "5a"):
            x = layers.MaxPooling2D(3, strides=2, padding="same", name=f"pool_{name[0]}")(x)
        x = _inception_v1(x, name, widths)
        if aux_classifiers and name in ("4a", "4d"):
            aux.append(_aux_head(x, f"aux_{name}", classes))
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    x = layers.Dropout(0.4, name="dropout")(x)
    x = layers.Dense(classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, [x, *aux] if aux else x, name="googlenet")


def _cbn(x, filters, kh, kw, name, strides=1, padding="same"):
    """Conv (no bias) -> batch norm (no scale) -> ReLU, as keras' conv2d_bn."""
    x = layers.Conv2D(filters, (kh, kw), strides=strides, padding=padding, use_bias=False,
                      name=f"{name}_conv")(x)
    x = layers.BatchNormalization(scale=False, name=f"{name}_bn")(x)
    return layers.Activation("relu", name=name)(x)


def _avg_branch(x, filters, name):
    x = layers.AveragePooling2D(3, strides=1, padding="same", name=f"{name}_avgpool")(x)
    return _cbn(x, filters, 1, 1, name)


def _v3_stem(inputs):
    x = _cbn(inputs, 32, 3, 3, "stem1", strides=2, padding="valid")
    x = _cbn(x, 32, 3, 3, "stem2", padding="valid")
    x = _cbn(x, 64, 3, 3, "stem3")
    x = layers.MaxPooling2D(3, strides=2, name="stem_pool1")(x)
    x = _cbn(x, 80, 1, 1, "stem4", padding="valid")
    x = _cbn(x, 192, 3, 3, "stem5", padding="valid")
    return layers.MaxPooling2D(3, strides=2, name="stem_pool2")(x)


def _v3_35(x):
    """mixed0-2: 35x35 modules, then mixed3: reduction to 17x17."""
    for i, pool_proj in enumerate((32, 64, 64)):
        m = f"mixed{i}"
        b1 = _cbn(x, 64, 1, 1, f"{m}_1x1")
        b5 = _cbn(_cbn(x, 48, 1, 1, f"{m}_5x5_1"), 64, 5, 5, f"{m}_5x5_2")
        b3 = _cbn(x, 64, 1, 1, f"{m}_3x3dbl_1")
        b3 = _cbn(_cbn(b3, 96, 3, 3, f"{m}_3x3dbl_2"), 96, 3, 3, f"{m}_3x3dbl_3")
        bp = _avg_branch(x, pool_proj, f"{m}_pool")
        x = layers.Concatenate(name=m)([b1, b5, b3, bp])
    b3 = _cbn(x, 384, 3, 3, "mixed3_3x3", strides=2, padding="valid")
    bd = _cbn(_cbn(x, 64, 1, 1, "mixed3_3x3dbl_1"), 96, 3, 3, "mixed3_3x3dbl_2")
    bd = _cbn(bd, 96, 3, 3, "mixed3_3x3dbl_3", strides=2, padding="valid")
    bp = layers.MaxPooling2D(3, strides=2, name="mixed3_pool")(x)
    return layers.Concatenate(name="mixed3")([b3, bd, bp])


def _v3_17(x):
    """mixed4-7: 17x17 modules with factorized 7x7, then mixed8: reduction to 8x8."""
    for i, width in zip(range(4, 8), (128, 160, 160, 192), strict=True):
        m = f"mixed{i}"
        b1 = _cbn(x, 192, 1, 1, f"{m}_1x1")
        b7 = _cbn(x, width, 1, 1, f"{m}_7x7_1")
        b7 = _cbn(_cbn(b7, width, 1, 7, f"{m}_7x7_2"), 192, 7, 1, f"{m}_7x7_3")
        bd = _cbn(x, width, 1, 1, f"{m}_7x7dbl_1")
        for k, (kh, kw) in enumerate(((7, 1), (1, 7), (7, 1)), start=2):
            bd = _cbn(bd, width, kh, kw, f"{m}_7x7dbl_{k}")
        bd = _cbn(bd, 192, 1, 7, f"{m}_7x7dbl_5")
        bp = _avg_branch(x, 192, f"{m}_pool")
        x = layers.Concatenate(name=m)([b1, b7, bd, bp])
    b3 = _cbn(_cbn(x, 192, 1, 1, "mixed8_3x3_1"), 320, 3, 3, "mixed8_3x3_2", strides=2,
              padding="valid")
    b7 = _cbn(x, 192, 1, 1, "mixed8_7x7x3_1")
    b7 = _cbn(_cbn(b7, 192, 1, 7, "mixed8_7x7x3_2"), 192, 7, 1, "mixed8_7x7x3_3")
    b7 = _cbn(b7, 192, 3, 3, "mixed8_7x7x3_4", strides=2, padding="valid")
    bp = layers.MaxPooling2D(3, strides=2, name="mixed8_pool")(x)
    return layers.Concatenate(name="mixed8")([b3, b7, bp])


def _v3_8(x):
    """mixed9-10: 8x8 modules with expanded filter banks."""
    for i in (9, 10):
        m = f"mixed{i}"
        b1 = _cbn(x, 320, 1, 1, f"{m}_1x1")
        b3 = _cbn(x, 384, 1, 1, f"{m}_3x3_1")
        b3 = layers.Concatenate(name=f"{m}_3x3")([_cbn(b3, 384, 1, 3, f"{m}_3x3_2a"),
                                                  _cbn(b3, 384, 3, 1, f"{m}_3x3_2b")])
        bd = _cbn(_cbn(x, 448, 1, 1, f"{m}_3x3dbl_1"), 384, 3, 3, f"{m}_3x3dbl_2")
        bd = layers.Concatenate(name=f"{m}_3x3dbl")([_cbn(bd, 384, 1, 3, f"{m}_3x3dbl_3a"),
                                                     _cbn(bd, 384, 3, 1, f"{m}_3x3dbl_3b")])
        bp = _avg_branch(x, 192, f"{m}_pool")
        x = layers.Concatenate(name=m)([b1, b3, bd, bp])
    return x


def inception_v3(classes: int = 1000, resolution: int = 299, no_top: bool = False):
    """Inception v3, layer for layer as keras.applications.InceptionV3."""
    inputs = image_input(resolution)
    x = _v3_8(_v3_17(_v3_35(_v3_stem(inputs))))
    if not no_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = layers.Dense(classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, x, name="inception_v3")
