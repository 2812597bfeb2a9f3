"""SqueezeNet (Iandola et al. 2016, "SqueezeNet: AlexNet-level accuracy with 50x fewer
parameters and <0.5MB model size", arXiv:1602.07360).

* ``version="1.0"``: the paper's Table 1 (7x7/2 conv with 96 filters, max pools after
  conv1, fire4 and fire8): 1,248,424 parameters with 1000 classes.
* ``version="1.1"``: the official SqueezeNet v1.1 (3x3/2 conv with 64 filters, pools after
  conv1, fire3 and fire5): same accuracy, 2.4x less computation, 1,235,496 parameters.
* ``bypass``: the paper's Section 5 variants. "simple" adds identity shortcuts around fire3,
  fire5, fire7 and fire9 (where input and output channels match); "complex" also adds 1x1
  convolution shortcuts (with bias) around fire2, fire4, fire6 and fire8.
* Pooling: max pools are 3x3/2 in Caffe's ceil mode (as the reference models and
  torchvision), written as a zero pad on the bottom/right where ceil mode needs one (the
  input is post-ReLU, so zeros never win a max). conv10 has a ReLU as in the paper, then
  global average pooling and softmax.
"""

from __future__ import annotations

from edgekit._tf import keras
from edgekit.zoo._blocks import image_input

layers = keras.layers

# (squeeze, expand) per fire module 2..9
FIRES = {2: (16, 64), 3: (16, 64), 4: (32, 128), 5: (32, 128),
         6: (48, 192), 7: (48, 192), 8: (64, 256), 9: (64, 256)}
POOL_AFTER = {"1.0": (4, 8), "1.1": (3, 5)}


def _fire(x, block, squeeze, expand):
    name = f"fire{block}"
    s = layers.Conv2D(squeeze, 1, activation="relu", name=f"{name}_squeeze")(x)
    e1 = layers.Conv2D(expand, 1, activation="relu", name=f"{name}_expand1x1")(s)
    e3 = layers.Conv2D(expand, 3, padding="same", activation="relu",
                       name=f"{name}_expand3x3")(s)
    return layers.Concatenate(name=f"{name}_concat")([e1, e3])


def _max_pool_ceil(x, name):
    """3x3/2 max pool with ceil-mode output size (Caffe, torchvision)."""
    pad_h, pad_w = (x.shape[1] - 3) % 2, (x.shape[2] - 3) % 2
    if pad_h or pad_w:
        x = layers.ZeroPadding2D(((0, pad_h), (0, pad_w)), name=f"{name}_pad")(x)
    return layers.MaxPooling2D(3, strides=2, name=name)(x)


def squeezenet(version: str = "1.0", bypass: str = "none", classes: int = 1000,
               resolution: int = 224, no_top: bool = False):
    """Build SqueezeNet v1.0 or v1.1 with an optional bypass variant."""
    if version not in POOL_AFTER or bypass not in ("none", "simple", "complex"):
        raise ValueError("version must be 1.0/1.1 and bypass none/simple/complex")
    inputs = image_input(resolution)
    if version == "1.0":
        x = layers.Conv2D(96, 7, strides=2, activation="relu", name="conv1")(inputs)
    else:
        x = layers.Conv2D(64, 3, strides=2, activation="relu", name="conv1")(inputs)
    x = _max_pool_ceil(x, "pool1")
    for block, (squeeze, expand) in FIRES.items():
        y = _fire(x, block, squeeze, expand)
        if bypass != "none" and block % 2 == 1:
            y = layers.Add(name=f"fire{block}_bypass")([y, x])
        elif bypass == "complex" and block % 2 == 0:
            shortcut = layers.Conv2D(2 * expand, 1, name=f"fire{block}_bypass_conv")(x)
            y = layers.Add(name=f"fire{block}_bypass")([y, shortcut])
        x = y
        if block in POOL_AFTER[version]:
            x = _max_pool_ceil(x, f"pool{block}")
    if not no_top:
        x = layers.Dropout(0.5, name="dropout")(x)
        x = layers.Conv2D(classes, 1, activation="relu", name="conv10")(x)
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = layers.Activation("softmax", name="predictions")(x)
    name = f"squeezenet{version.replace('.', '_')}" + ("" if bypass == "none" else f"_{bypass}")
    return keras.Model(inputs, x, name=name)
