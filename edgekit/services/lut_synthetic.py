"""Synthetic kernels for a latency table: small TFLite files made by the TFLite converter
from a few Keras layers, whose kernels the MobileNet v1/v2 grid never has but the newer
families do (MobileNet v3's hard-swish and squeeze-and-excite, v3's and
EfficientNet-Lite's 5x5 depthwise convolutions, element-wise multiplies with a broadcast
operand, spatial means of large maps, v4's full 3x3 stride-2 convolutions, 1x1 heads of
1280 channels), at shapes spanning those families' ranges (112x112 of 16 channels down to
5x5 of 960, 8x8 of 1152). Timed op by op with the grid (``profile --lut``,
``tools/predict_latency.py``), never whole: a table of v1/v2 plus these predicts v3, Lite
and v4 from measured kernels of every type they have, not from a borrowed law."""

from __future__ import annotations

from pathlib import Path

NAME = "lut_kernels"
BUILD = 3       # in the files' names: a change of build() must not reuse the cached files
# (side, channels of its stages): the newer families' maps, from the stem's 112x112x16
# (224 px) down to the last stage's 5x5 (160 px) of 960 and Lite-1's 8x8 of 1152; a
# stage's channels are reached by a 1x1 convolution from the previous one's; the head's
# width, v3 Small's 1024 or v3 Large's and v4's 1280
SHAPES = [(112, (16, 32), 1024), (80, (16, 48), 1280), (56, (24, 72), 1024),
          (40, (40, 96), 1280), (28, (48, 120), 1024), (20, (80, 160), 1280),
          (14, (96, 240, 480), 1024), (10, (192, 480), 1280), (8, (672, 1152), 1280),
          (7, (288, 576, 960), 1024), (5, (576, 960), 1280)]


DTYPE_OF_QUANT = {"none": "float32", "int8": "int8"}   # the quants made here


def label(side: int, channels, head: int) -> str:
    return f"{NAME}{BUILD}_{side}x{side}x{'-'.join(map(str, channels))}_h{head}"


def build(side: int, channels, head: int):
    """The Keras model of one shape: per stage, a 1x1 convolution to its width with
    hard-swish, a depthwise convolution (5x5 on even stages, 3x3 on odd) with hard-swish
    (on the first stage written out as x·relu6(x + 3)/6: TensorFlow's converter makes
    it the same HARD_SWISH op), squeeze-and-excite (mean, 1x1 convolutions, hard-sigmoid, broadcast
    multiply) and a residual add; then a full 3x3 stride-2 convolution (MobileNet v4's
    fused blocks), a 5x5 stride-2 depthwise convolution and a head (mean, then a 1x1
    convolution of the 1x1 map to ``head`` channels, hard-swish)."""
    from edgekit._tf import keras

    layers = keras.layers
    keras.utils.set_random_seed(0)
    inputs = keras.Input((side, side, channels[0]), name="x")
    x = inputs
    for i, c in enumerate(channels):
        if i:
            x = layers.Conv2D(c, 1, name=f"s{i}_expand")(x)
            x = layers.Activation("hard_swish", name=f"s{i}_expand_hard_swish")(x)
        y = layers.DepthwiseConv2D(5 if i % 2 == 0 else 3, padding="same",
                                   name=f"s{i}_depthwise")(x)
        if i == 0:
            y = layers.Multiply(name=f"s{i}_hs_mul")(
                [y, layers.Rescaling(1 / 6, name=f"s{i}_hs_scale")(
                    layers.ReLU(6.0, name=f"s{i}_hs_relu6")(
                        layers.Rescaling(1.0, 3.0, name=f"s{i}_hs_add")(y)))])
        else:
            y = layers.Activation("hard_swish", name=f"s{i}_hard_swish")(y)
        s = layers.GlobalAveragePooling2D(keepdims=True, name=f"s{i}_se_mean")(y)
        s = layers.Conv2D(max(8, c // 4), 1, activation="relu", name=f"s{i}_se_reduce")(s)
        s = layers.Conv2D(c, 1, name=f"s{i}_se_expand")(s)
        s = layers.Activation("hard_sigmoid", name=f"s{i}_se_hard_sigmoid")(s)
        y = layers.Multiply(name=f"s{i}_se_mul")([y, s])
        x = layers.Add(name=f"s{i}_add")([x, y])
    x = layers.Conv2D(channels[-1], 3, strides=2, padding="same", activation="relu",
                      name="down_conv")(x)
    x = layers.DepthwiseConv2D(5, strides=2, padding="same", activation="relu",
                               name="down_depthwise")(x)
    x = layers.GlobalAveragePooling2D(keepdims=True, name="head_mean")(x)
    x = layers.Conv2D(head, 1, name="head_conv")(x)
    x = layers.Activation("hard_swish", name="head_hard_swish")(x)
    return keras.Model(inputs, x, name=label(side, channels, head))


def kernel_file(side: int, channels, head: int, quant: str, notify=lambda m: None
                ) -> Path:
    """The .tflite of one shape in ``quant`` ('none' or 'int8'), exported once into the
    export cache."""
    from edgekit.export import cache
    from edgekit.export.pipeline import ExportJob, ExportOptions, export

    name = label(side, channels, head)
    folder = cache.entry_dir(name, quant)
    found = cache.lookup(folder, ["litert"])
    if found is None:
        notify(f"Exporting the synthetic kernels {name} ({quant})")
        opts = ExportOptions(formats=["tflite"], quants=[quant], out_dir=folder, samples=8,
                             calibration="random", min_agreement=0.0)
        job = ExportJob(name=name, meta={"name": name, "target": name, "source": "edgekit",
                                         "format": "keras",
                                         "input_shape": [side, side, channels[0]]})
        export(build(side, channels, head), job, opts, notify=notify)
        found = cache.lookup(folder, ["litert"])
    return found["litert"]


def configs(quants, notify=lambda m: None) -> list[dict]:
    """The synthetic files of ``quants`` as the grid's configs (``services.lut``), marked
    ``synthetic``: their kernels enter the table, the files are never timed whole."""
    from edgekit.readers.tflite_reader import read_tflite

    out = []
    for side, channels, head in SHAPES:   # 11 shapes x 2 quants: ~2 min of exports, once
        for quant in [q for q in quants if q in DTYPE_OF_QUANT]:
            path = kernel_file(side, channels, head, quant, notify)
            records = [r for r in read_tflite(path)[0] if r.op != "INPUT"]
            out.append({"model": NAME, "alpha": None, "resolution": side, "quant": quant,
                        "knobs": {"side": side, "channels": list(channels), "head": head},
                        "dtype": DTYPE_OF_QUANT[quant], "path": path, "records": records,
                        "describe": label(side, channels, head), "synthetic": True})
    return out


def file_of(m: dict, notify=lambda m: None) -> Path:
    """The file of a table's synthetic model row (exported again if gone)."""
    k = m["knobs"]
    return kernel_file(int(k["side"]), tuple(int(c) for c in k["channels"]), int(k["head"]),
                       m["quant"], notify)
