"""Data-dependent initialization for untrained zoo models.

The zoo builds models with fresh random weights (no downloads). Through 20-50 randomly
initialized layers the activations of such a model shrink towards zero (MobileNet v1 at
init: logits ~1e-16), so its softmax is exactly uniform and every exported copy "agrees"
with it trivially, while quantization ranges are meaningless. Before exporting a zoo model
edgekit gives it the activation statistics of a trained network, on real images:

* networks with batch norm: one forward pass in training mode with momentum 0 sets every
  BN layer's moving mean/variance to the statistics of its input on the batch, so each BN
  output is zero-mean, unit-variance at inference (the "BN recalibration" of
  quantization practice);
* networks without batch norm: LSUV (Mishkin & Matas 2016, "All you need is a good init"):
  layer by layer, each convolution/dense kernel is divided by the standard deviation of its
  output on the batch, so every layer's output has unit variance.

The model stays untrained: accuracy figures of a zoo export mean nothing, but agreement,
cosine and SQNR between Keras and the exported files do.
"""

from __future__ import annotations

import numpy as np

from edgekit._tf import keras


def data_dependent_init(model, x: np.ndarray) -> str:
    """Rescale ``model`` in place on the batch ``x``; return what was done, for the manifest."""
    bns = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    if bns:
        dropouts = [layer for layer in model.layers if isinstance(layer, keras.layers.Dropout)]
        saved = [(layer, layer.momentum) for layer in bns]
        rates = [(layer, layer.rate) for layer in dropouts]
        try:
            for layer in bns:
                layer.momentum = 0.0
            for layer in dropouts:
                layer.rate = 0.0
            model(x, training=True)
        finally:
            for layer, m in saved:
                layer.momentum = m
            for layer, r in rates:
                layer.rate = r
        return f"batch-norm statistics set on {len(x)} images ({len(bns)} layers)"
    weighted = [layer for layer in model.layers if getattr(layer, "kernel", None) is not None]
    for layer in weighted:
        out = np.asarray(keras.Model(model.inputs, layer.output)(x, training=False))
        std = float(out.std())
        if std > 0:
            layer.kernel.assign(layer.kernel / std)
            if getattr(layer, "bias", None) is not None:
                layer.bias.assign(layer.bias / std)
    return f"LSUV unit-variance scaling on {len(x)} images ({len(weighted)} layers)"
