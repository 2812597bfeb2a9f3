"""Small building blocks shared by the zoo families (imports Keras; load lazily)."""

from __future__ import annotations

from edgekit._tf import keras

layers = keras.layers


def conv_bn(x, filters, kernel, name, strides=1, padding="same", act="relu",
            use_bias=False):
    """Conv2D (no bias by default) -> BatchNormalization -> activation (None: no activation).

    Layers are named ``name``, ``name_bn`` and ``name_<act>``.
    """
    x = layers.Conv2D(filters, kernel, strides=strides, padding=padding, use_bias=use_bias,
                      name=name)(x)
    x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return activation(x, act, name)


def activation(x, act, name):
    """Apply ``act`` ('relu', 'relu6' or None) as a layer named ``name_<act>``."""
    if act is None:
        return x
    if act == "relu6":
        return layers.ReLU(6.0, name=f"{name}_relu")(x)
    return layers.Activation(act, name=f"{name}_{act}")(x)


def classifier(x, classes, dropout=0.0, name="predictions"):
    """Global average pooling, optional dropout, dense softmax classifier."""
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if dropout:
        x = layers.Dropout(dropout, name="dropout")(x)
    return layers.Dense(classes, activation="softmax", name=name)(x)


def image_input(resolution, channels=3):
    return keras.Input(shape=(resolution, resolution, channels), name="input")
