"""The ONNX op table: each op's kind in its domain (the standard ops, and the
``com.microsoft`` ops that onnxruntime's quantizer and graph optimizer write), the inputs
that hold its weights, and which ops hold multiply-adds. Data only (no arithmetic, no
framework): the ONNX reader maps ops through it, and the counting is
:mod:`edgekit.core.ops`'s, as for every format."""

from __future__ import annotations

from edgekit.core.ops import Kind, each

# op -> (positions of weight inputs, positions of non-trainable inputs)
WEIGHTS = {"Conv": ((1, 2), ()), "ConvTranspose": ((1, 2), ()), "Gemm": ((1, 2), ()),
           "MatMul": ((0, 1), ()), "BatchNormalization": ((1, 2), (3, 4)),
           "PRelu": ((1,), ()), "QLinearConv": ((3, 8), ()), "QLinearMatMul": ((0, 3), ()),
           "ConvInteger": ((1,), ()), "MatMulInteger": ((0, 1), ()), "Gather": ((0,), ()),
           "InstanceNormalization": ((1, 2), ()), "LayerNormalization": ((1, 2), ()),
           "LSTM": ((1, 2, 3, 7), ()), "GRU": ((1, 2, 3), ()), "RNN": ((1, 2, 3), ()),
           "Einsum": (tuple(range(8)), ()),
           # learned tensors that enter the graph through data movement (a ViT's class and
           # register tokens, position embeddings, embedding tables): the data input
           "Concat": (tuple(range(64)), ()), "Expand": ((0,), ()), "Tile": ((0,), ()),
           "Slice": ((0,), ()), "Reshape": ((0,), ()), "Transpose": ((0,), ()),
           "Unsqueeze": ((0,), ()), "Squeeze": ((0,), ()), "Flatten": ((0,), ()),
           "GatherElements": ((0,), ()), "GatherND": ((0,), ()), "Pad": ((0,), ())}
# ops whose weight inputs (data movement's, above) count only when they hold numbers
# (not the int64 shapes, indices or pads they are given)
DATA_MOVEMENT = frozenset({"Concat", "Expand", "Tile", "Slice", "Reshape", "Transpose",
                           "Unsqueeze", "Squeeze", "Flatten", "Gather", "GatherElements",
                           "GatherND", "Pad", "QLinearConcat"})
# element-wise ops whose constant operand is a weight when it is more than a scalar (a
# folded batch norm's per-channel scale and shift): the positions of their operands
AFFINE_OPS = {"Add": (0, 1), "Sub": (0, 1), "Mul": (0, 1), "Div": (0, 1),
              "QLinearAdd": (0, 3), "QLinearMul": (0, 3)}
GATES = {"LSTM": 4, "GRU": 3, "RNN": 1, "DynamicQuantizeLSTM": 4}
# standard ops that hold multiply-adds the table does not count: listed, not counted, and
# flagged in "MACs incomplete" as every op the table does not know is; a standard op that
# ONNX defines as a function is expanded by the reader into what defines it
UNCOUNTED_MAC_OPS = frozenset({"DFT", "STFT", "Det", "DeformConv"})
CONTROL_FLOW = frozenset({"If", "Loop", "Scan"})


def _kinds() -> dict[str, Kind]:
    return {
        **each(Kind.SHAPE, "Transpose Concat Pad Slice Split Gather Shape Resize Upsample "
               "Tile Expand ConstantOfShape Range DepthToSpace SpaceToDepth QLinearConcat "
               "GatherElements GatherND ScatterElements ScatterND Scatter OneHot Trilu "
               "ReverseSequence Compress NonZero Size EyeLike CenterCropPad TopK Unique "
               "SplitToSequence ConcatFromSequence SequenceConstruct SequenceAt "
               "SequenceInsert SequenceErase SequenceLength SequenceEmpty Optional "
               "OptionalGetElement OptionalHasElement CastLike Col2Im RandomNormal RandomUniform "
               "RandomNormalLike RandomUniformLike Multinomial Bernoulli BitCast ImageDecoder "
               "MaxUnpool MelWeightMatrix NonMaxSuppression RegexFullMatch StringConcat "
               "StringNormalizer StringSplit TensorScatter GridSample RoiAlign MaxRoiPool "
               "TfIdfVectorizer"),
        **each(Kind.VIEW, "Reshape Flatten Squeeze Unsqueeze Identity Dropout"),
        **each(Kind.ACTIVATION, "Relu Clip Sigmoid Tanh LeakyRelu HardSigmoid HardSwish Elu "
               "Selu Softmax LogSoftmax Gelu Softplus Softsign Erf Sqrt Exp Log Neg Abs "
               "Cast PRelu Celu Mish ThresholdedRelu Shrink Reciprocal Floor Ceil Round "
               "Sign Sin Cos Tan Asin Acos Atan Sinh Cosh Asinh Acosh Atanh Not IsNaN "
               "IsInf Hardmax Swish BitwiseNot QuantizeLinear DequantizeLinear "
               "DynamicQuantizeLinear"),
        **each(Kind.ELEMENTWISE, "Add Sub Mul Div Max Min Sum Mean Pow QLinearAdd QLinearMul "
               "Mod And Or Xor Equal Less Greater LessOrEqual GreaterOrEqual Where BitShift "
               "BitwiseAnd BitwiseOr BitwiseXor"),
        **each(Kind.NORM, "BatchNormalization InstanceNormalization LayerNormalization "
               "GroupNormalization RMSNormalization LpNormalization "
               "MeanVarianceNormalization LRN"),
        **each(Kind.POOL, "MaxPool AveragePool LpPool"),
        **each(Kind.GLOBAL_POOL, "GlobalAveragePool GlobalMaxPool GlobalLpPool ReduceMean "
               "ReduceMax ReduceMin ReduceSum ReduceProd ReduceL1 ReduceL2 ReduceLogSum "
               "ReduceLogSumExp ReduceSumSquare ArgMax ArgMin CumSum CumProd "
               "QLinearGlobalAveragePool"),
        **each(Kind.CONV, "Conv QLinearConv ConvInteger"),
        **each(Kind.DENSE, "Gemm MatMul QLinearMatMul MatMulInteger Einsum Attention"),
        **each(Kind.RECURRENT, "LSTM GRU RNN"),
        "ConvTranspose": Kind.TRANSPOSED_CONV,
    }


KINDS = _kinds()

# onnxruntime's own ops (its quantizer: QOperator, QDQ, dynamic; its graph optimizer at
# the basic, extended and layout levels, and its transformer fusions), each as the kind it
# is; any other op of another domain is unknown (listed, not counted, may hold MACs)
MS_DOMAIN = "com.microsoft"
NCHWC_DOMAIN = "com.microsoft.nchwc"
DOMAIN_KINDS = {
    MS_DOMAIN: {
        **each(Kind.CONV, "QLinearConv FusedConv NhwcConv ConvInteger"),
        **each(Kind.DENSE, "QGemm FusedGemm FusedMatMul DynamicQuantizeMatMul "
               "MatMulIntegerToFloat QAttention Attention MatMulNBits MultiHeadAttention"),
        **each(Kind.ACTIVATION, "QLinearSigmoid QLinearLeakyRelu QLinearSoftmax Gelu "
               "FastGelu BiasGelu QuickGelu QuantizeLinear DequantizeLinear BiasSoftmax"),
        **each(Kind.ELEMENTWISE, "QLinearAdd QLinearMul QLinearWhere BiasAdd"),
        **each(Kind.NORM, "SkipLayerNormalization SkipSimplifiedLayerNormalization "
               "SimplifiedLayerNormalization LayerNormalization EmbedLayerNormalization "
               "QEmbedLayerNormalization GroupNorm SkipGroupNorm"),
        **each(Kind.POOL, "QLinearAveragePool NhwcMaxPool"),
        **each(Kind.GLOBAL_POOL, "QLinearGlobalAveragePool QLinearReduceMean"),
        **each(Kind.SHAPE, "QLinearConcat"),
        "DynamicQuantizeLSTM": Kind.RECURRENT,
    },
    # the NCHWc layout (layout level, x86): channels padded to this CPU's vector block;
    # ReorderInput/Output convert. Its Conv is listed, not counted (NCHWC_UNCOUNTED)
    NCHWC_DOMAIN: {
        **each(Kind.POOL, "MaxPool AveragePool"),
        **each(Kind.GLOBAL_POOL, "GlobalAveragePool GlobalMaxPool"),
        **each(Kind.SHAPE, "ReorderInput ReorderOutput Upsample"),
    },
}
NCHWC_UNCOUNTED = ("onnxruntime's NCHWc layout: its weights are stored padded to this "
                   "CPU's vector block (the model's channels are not in the file); count "
                   "the file optimized at the extended level")
# weight inputs of the com.microsoft ops (scales and zero points apart)
DOMAIN_WEIGHTS = {
    MS_DOMAIN: {"QLinearConv": ((3, 8), ()), "FusedConv": ((1, 2), ()),
                "NhwcConv": ((1, 2), ()), "ConvInteger": ((1,), ()),
                "QGemm": ((3, 6), ()), "FusedGemm": ((1, 2), ()),
                "FusedMatMul": ((0, 1), ()), "DynamicQuantizeMatMul": ((1, 4), ()),
                "MatMulIntegerToFloat": ((0, 1, 6), ()), "QAttention": ((1, 2), ()),
                "MatMulNBits": ((1, 5), ()), "DynamicQuantizeLSTM": ((1, 2, 3, 7), ()),
                "MultiHeadAttention": ((3,), ()),
                # word, position and segment embeddings, then the layer norm's gamma, beta
                "EmbedLayerNormalization": ((2, 3, 4, 5, 6), ()),
                "QEmbedLayerNormalization": ((2, 3, 4, 5, 6), ()),
                "GroupNorm": ((1, 2), ()), "SkipGroupNorm": ((1, 2, 4), ()),
                "Attention": ((1, 2), ()), "FastGelu": ((1,), ()), "BiasGelu": ((1,), ()),
                "BiasAdd": ((1,), ()), "SkipLayerNormalization": ((2, 3, 4), ()),
                "SkipSimplifiedLayerNormalization": ((2, 3), ()),
                "SimplifiedLayerNormalization": ((1,), ()),
                "LayerNormalization": ((1, 2), ()),
                "QLinearConcat": (tuple(range(2, 3 * 64, 3)), ())},
}
DEFAULT_DOMAINS = ("", "ai.onnx")
# for shape inference only (the evaluation of a graph too large to run): the standard op
# whose shape rule an onnxruntime op follows, and which of its inputs that op takes
SHAPE_AS = {
    MS_DOMAIN: {
        "QLinearConv": ("Conv", (0, 3)), "FusedConv": ("Conv", (0, 1)),
        "QGemm": ("Gemm", (0, 3)), "FusedGemm": ("Gemm", (0, 1)),
        "QLinearAdd": ("Add", (0, 3)), "QLinearMul": ("Mul", (0, 3)),
        "FusedMatMul": ("MatMul", (0, 1)),
        "QLinearAveragePool": ("AveragePool", (0,)),
        "QLinearGlobalAveragePool": ("GlobalAveragePool", (0,)),
        "QLinearConcat": ("Concat", tuple(range(2, 3 * 64, 3))),
        "QuantizeLinear": ("QuantizeLinear", (0, 1, 2)),
        "DequantizeLinear": ("DequantizeLinear", (0, 1, 2)),
        **{op: ("Identity", (0,)) for op in (
            "QLinearSigmoid", "QLinearLeakyRelu", "QLinearSoftmax", "Gelu", "FastGelu",
            "BiasGelu", "QuickGelu", "SkipLayerNormalization",
            "SkipSimplifiedLayerNormalization", "SimplifiedLayerNormalization", "BiasAdd")},
    },
}
# outputs of those ops that have the shape of their input 0 (a skip layer norm's sum too)
SHAPE_OF_INPUT = {"SkipLayerNormalization": (0, 3), "SkipSimplifiedLayerNormalization": (0, 3)}


def kind_of(op_type: str, domain: str) -> Kind | None:
    """The kind of an op in its domain, None when the table does not know it there."""
    if domain in DEFAULT_DOMAINS:
        return KINDS.get(op_type)
    return DOMAIN_KINDS.get(domain, {}).get(op_type)


def weights_of(op_type: str, domain: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(positions of weight inputs, positions of non-trainable ones) of an op."""
    if domain in DEFAULT_DOMAINS:
        return WEIGHTS.get(op_type, ((), ()))
    return DOMAIN_WEIGHTS.get(domain, {}).get(op_type, ((), ()))
