"""Keras 3 functional/sequential model -> list of LayerRecord.

A reader only translates: shapes, weights and edges come from the model, the arithmetic
comes from ``edgekit.core.counting``.
"""

from __future__ import annotations

from math import prod

from edgekit.core import counting as C
from edgekit.core.errors import UsageError
from edgekit.core.records import LayerRecord

# ops whose output is a view of their input at inference: no new memory
ALIAS_OPS = {"Reshape", "Flatten", "Dropout", "SpatialDropout2D", "GaussianNoise",
             "GaussianDropout", "AlphaDropout", "Identity", "ActivityRegularization"}
ACTIVATION_OPS = {"ReLU", "Activation", "LeakyReLU", "PReLU", "ELU", "Softmax",
                  "ThresholdedReLU"}
ELEMENTWISE_OPS = {"Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"}
SHAPE_OPS = {"InputLayer", "ZeroPadding2D", "ZeroPadding1D", "Cropping2D", "Concatenate",
             "Permute", "RepeatVector", "UpSampling2D"}  # no arithmetic, known
POOL_OPS = {"MaxPooling2D", "AveragePooling2D", "MaxPooling1D", "AveragePooling1D"}
GLOBAL_POOL_OPS = {"GlobalAveragePooling2D", "GlobalMaxPooling2D",
                   "GlobalAveragePooling1D", "GlobalMaxPooling1D"}
NORM_OPS = {"BatchNormalization", "LayerNormalization", "GroupNormalization",
            "Normalization", "Rescaling"}


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


def _op_counts(layer, op: str, in_shapes: list[tuple],
               out_shape: tuple) -> tuple[int, int, bool, dict]:
    """(MACs, other ops, known op?, attrs) for one layer, per batch item."""
    out_el = C.numel(out_shape)
    attrs: dict = {}
    macs = other = 0
    known = True
    if op in ("Conv1D", "Conv2D", "Conv3D"):
        k = tuple(layer.kernel_size)
        groups = getattr(layer, "groups", 1)
        cin = in_shapes[0][-1]
        macs = C.conv_macs(k, cin, layer.filters, out_shape[:-1], groups)
        attrs = {"kernel": list(k), "strides": list(layer.strides), "groups": groups,
                 "padding": layer.padding}
    elif op in ("DepthwiseConv2D", "DepthwiseConv1D"):
        k = tuple(layer.kernel_size)
        macs = C.depthwise_macs(k, in_shapes[0][-1], layer.depth_multiplier, out_shape[:-1])
        attrs = {"kernel": list(k), "strides": list(layer.strides),
                 "depth_multiplier": layer.depth_multiplier, "padding": layer.padding}
    elif op in ("SeparableConv2D", "SeparableConv1D"):
        k = tuple(layer.kernel_size)
        cin, mult = in_shapes[0][-1], layer.depth_multiplier
        macs = (C.depthwise_macs(k, cin, mult, out_shape[:-1])
                + C.conv_macs((1,) * len(k), cin * mult, layer.filters, out_shape[:-1]))
        attrs = {"kernel": list(k), "strides": list(layer.strides),
                 "depth_multiplier": mult, "padding": layer.padding}
    elif op in ("Conv2DTranspose", "Conv1DTranspose", "Conv3DTranspose"):
        k = tuple(layer.kernel_size)
        macs = C.transposed_conv_macs(k, in_shapes[0][-1], layer.filters, in_shapes[0][:-1])
        attrs = {"kernel": list(k), "strides": list(layer.strides)}
    elif op == "Dense":
        n_in = in_shapes[0][-1]
        macs = C.dense_macs(n_in, layer.units, positions=C.numel(out_shape[:-1]))
        attrs = {"units": layer.units}
    elif op in NORM_OPS:
        other = C.batchnorm_ops(out_el)
    elif op in ACTIVATION_OPS:
        other = C.activation_ops(out_el)
        act = getattr(layer, "activation", None)
        attrs = {"activation": getattr(act, "__name__", op.lower())}
        if op == "ReLU" and layer.max_value is not None:
            attrs["activation"] = f"relu{float(layer.max_value):g}"
    elif op in POOL_OPS:
        other = C.pool_ops(layer.pool_size, out_el)
        attrs = {"pool": list(layer.pool_size), "strides": list(layer.strides)}
    elif op in GLOBAL_POOL_OPS:
        other = C.numel(in_shapes[0])
    elif op in ELEMENTWISE_OPS:
        other = C.elementwise_ops(len(in_shapes), out_el)
    elif op in ALIAS_OPS or op in SHAPE_OPS:
        pass
    else:
        known = False
    # fused bias and activation of conv/dense layers
    if macs and getattr(layer, "use_bias", False):
        other += C.bias_ops(out_el)
    act = getattr(layer, "activation", None)
    if macs and act is not None and getattr(act, "__name__", "linear") != "linear":
        other += C.activation_ops(out_el)
        attrs["activation"] = act.__name__
    return macs, other, known, attrs


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
        if hasattr(layer, "layers") and layer.layers:  # a nested model: summed, one row
            sub, _ = read_keras_model(layer)
            macs = sum(r.macs for r in sub)
            other = sum(r.other_ops for r in sub)
            known = all(r.counted for r in sub)
            attrs = {"nested_layers": len(sub)}
        else:
            macs, other, known, attrs = _op_counts(layer, op, in_shapes, out_shape)
        records.append(LayerRecord(
            index=index, name=layer.name, op=op, inputs=inputs, input_shapes=in_shapes,
            output_shape=out_shape,
            params_trainable=_n(layer.trainable_weights),
            params_non_trainable=_n(layer.non_trainable_weights),
            macs=macs, other_ops=other, attrs=attrs,
            act_dtype=str(getattr(layer, "compute_dtype", "float32")),
            weight_dtype=str(getattr(layer, "variable_dtype", "float32")),
            alias=op in ALIAS_OPS, counted=known,
        ))
    outputs = [t._keras_history.operation.name for t in model.outputs]
    return records, outputs
