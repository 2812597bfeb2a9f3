"""Keras 3 functional/sequential model -> list of LayerRecord.

A reader only translates: shapes, weights and edges come from the model, the arithmetic
comes from ``edgekit.core.counting``.
"""

from __future__ import annotations

from math import prod

from edgekit.core import counting as C
from edgekit.core.errors import UsageError
from edgekit.core.ops import MAC_KINDS, Geometry, Kind, count
from edgekit.core.records import LayerRecord


def _kinds() -> dict[str, Kind]:
    table = {op: Kind.VIEW for op in (
        "Reshape", "Flatten", "Dropout", "SpatialDropout2D", "GaussianNoise",
        "GaussianDropout", "AlphaDropout", "Identity", "ActivityRegularization")}
    table.update({op: Kind.ACTIVATION for op in (
        "ReLU", "Activation", "LeakyReLU", "PReLU", "ELU", "Softmax", "ThresholdedReLU")})
    table.update({op: Kind.ELEMENTWISE for op in (
        "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum")})
    table.update({op: Kind.SHAPE for op in (
        "InputLayer", "ZeroPadding2D", "ZeroPadding1D", "Cropping2D", "Concatenate",
        "Permute", "RepeatVector", "UpSampling2D")})
    table.update({op: Kind.POOL for op in (
        "MaxPooling2D", "AveragePooling2D", "MaxPooling1D", "AveragePooling1D")})
    table.update({op: Kind.GLOBAL_POOL for op in (
        "GlobalAveragePooling2D", "GlobalMaxPooling2D", "GlobalAveragePooling1D",
        "GlobalMaxPooling1D")})
    table.update({op: Kind.NORM for op in (
        "BatchNormalization", "LayerNormalization", "GroupNormalization", "Normalization",
        "Rescaling")})
    table.update({"Conv1D": Kind.CONV, "Conv2D": Kind.CONV, "Conv3D": Kind.CONV,
                  "DepthwiseConv2D": Kind.DEPTHWISE, "DepthwiseConv1D": Kind.DEPTHWISE,
                  "SeparableConv2D": Kind.SEPARABLE, "SeparableConv1D": Kind.SEPARABLE,
                  "Conv2DTranspose": Kind.TRANSPOSED_CONV,
                  "Conv1DTranspose": Kind.TRANSPOSED_CONV,
                  "Conv3DTranspose": Kind.TRANSPOSED_CONV, "Dense": Kind.DENSE})
    return table


KINDS = _kinds()


def _shape(t) -> tuple[int, ...]:
    """Per-item shape (batch dimension dropped)."""
    return tuple(t.shape[1:])


def _check_static(name: str, shape: tuple) -> None:
    if any(d is None for d in shape):
        raise UsageError(
            f"layer {name!r} has an unknown dimension {tuple(shape)}: analysis needs a model "
            "with a fixed input size (build or save it with a concrete input shape)"
        )


def _n(weights) -> int:
    return sum(int(prod(w.shape)) for w in weights)


def _geometry(layer, kind: Kind, in_shapes: list[tuple], out_shape: tuple
              ) -> tuple[Geometry, dict]:
    """The geometry of one layer for the counting in core, and its attrs for the record."""
    g = Geometry()
    attrs: dict = {}
    if kind in (Kind.CONV, Kind.DEPTHWISE, Kind.SEPARABLE, Kind.TRANSPOSED_CONV):
        g.kernel = tuple(layer.kernel_size)
        g.cin = in_shapes[0][-1]
        g.out_spatial, g.in_spatial = out_shape[:-1], in_shapes[0][:-1]
        g.cout = getattr(layer, "filters", 0)
        g.multiplier = getattr(layer, "depth_multiplier", 1)
        attrs = {"kernel": list(g.kernel), "strides": list(layer.strides)}
        if kind is Kind.CONV:
            g.groups = getattr(layer, "groups", 1)
            attrs.update(groups=g.groups)
        elif kind is not Kind.TRANSPOSED_CONV:
            attrs["depth_multiplier"] = g.multiplier
        if kind is not Kind.TRANSPOSED_CONV:
            attrs["padding"] = layer.padding
    elif kind is Kind.DENSE:
        g.cin, g.cout = in_shapes[0][-1], layer.units
        g.positions = C.numel(out_shape[:-1])
        attrs = {"units": layer.units}
    elif kind is Kind.ACTIVATION:
        act = getattr(layer, "activation", None)
        attrs = {"activation": getattr(act, "__name__", type(layer).__name__.lower())}
        if type(layer).__name__ == "ReLU" and layer.max_value is not None:
            attrs["activation"] = f"relu{float(layer.max_value):g}"
    elif kind is Kind.POOL:
        g.window = tuple(layer.pool_size)
        attrs = {"pool": list(layer.pool_size), "strides": list(layer.strides)}
    elif kind is Kind.GLOBAL_POOL:
        g.in_elements = C.numel(in_shapes[0])
    elif kind is Kind.ELEMENTWISE:
        g.n_inputs = len(in_shapes)
    if kind in MAC_KINDS:  # fused bias and activation of conv/dense layers
        g.bias = bool(getattr(layer, "use_bias", False))
        act = getattr(layer, "activation", None)
        if act is not None and getattr(act, "__name__", "linear") != "linear":
            g.activation = True
            attrs["activation"] = act.__name__
    return g, attrs


def _layer_counts(layer, op: str, in_shapes: list[tuple], out_shape: tuple
                  ) -> tuple[int, int, bool, dict]:
    """(MACs, other ops, known op?, attrs) of one layer, per batch item."""
    if hasattr(layer, "layers") and layer.layers:  # a nested model: summed, one row
        sub, _ = read_keras_model(layer)
        return (sum(r.macs for r in sub), sum(r.other_ops for r in sub),
                all(r.counted for r in sub), {"nested_layers": len(sub)})
    kind = KINDS.get(op, Kind.UNKNOWN)
    g, attrs = _geometry(layer, kind, in_shapes, out_shape)
    macs, other = count(kind, g, C.numel(out_shape))
    return macs, other, kind is not Kind.UNKNOWN, attrs


def read_keras_model(model) -> tuple[list[LayerRecord], list[str]]:
    """Records for every layer of ``model`` in execution order, and the output layer names."""
    records: list[LayerRecord] = []
    layer_names = {layer.name for layer in model.layers}
    for t in model.inputs:  # a Sequential model does not list its InputLayer
        name = t._keras_history.operation.name
        if name not in layer_names:
            _check_static(name, _shape(t))
            records.append(LayerRecord(index=len(records), name=name, op="InputLayer",
                                       output_shape=_shape(t)))
    for layer in model.layers:
        index = len(records)
        op = type(layer).__name__
        node = layer._inbound_nodes[0] if layer._inbound_nodes else None
        in_tensors = list(node.input_tensors) if node is not None else []
        inputs = [t._keras_history.operation.name for t in in_tensors]
        in_shapes = [_shape(t) for t in in_tensors]
        out = layer.output
        if isinstance(out, (list, tuple)):
            out = out[0]
        out_shape = _shape(out)
        _check_static(layer.name, out_shape)
        macs, other, known, attrs = _layer_counts(layer, op, in_shapes, out_shape)
        records.append(LayerRecord(
            index=index, name=layer.name, op=op, inputs=inputs, input_shapes=in_shapes,
            output_shape=out_shape,
            params_trainable=_n(layer.trainable_weights),
            params_non_trainable=_n(layer.non_trainable_weights),
            macs=macs, other_ops=other, attrs=attrs,
            act_dtype=str(getattr(layer, "compute_dtype", "float32")),
            weight_dtype=str(getattr(layer, "variable_dtype", "float32")),
            alias=KINDS.get(op) is Kind.VIEW, counted=known,
        ))
    outputs = [t._keras_history.operation.name for t in model.outputs]
    return records, outputs
