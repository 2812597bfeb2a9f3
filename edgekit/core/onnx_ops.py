"""The ONNX op table: each standard op's kind, the inputs that hold its weights, and which
ops hold multiply-adds. Data only (no arithmetic, no framework): the ONNX reader maps ops
through it, and the counting is :mod:`edgekit.core.ops`'s, as for every format."""

from __future__ import annotations

from edgekit.core.ops import Kind, each

# op -> (positions of weight inputs, positions of non-trainable inputs)
WEIGHTS = {"Conv": ((1, 2), ()), "ConvTranspose": ((1, 2), ()), "Gemm": ((1, 2), ()),
           "MatMul": ((0, 1), ()), "BatchNormalization": ((1, 2), (3, 4)),
           "PRelu": ((1,), ()), "QLinearConv": ((3, 8), ()), "QLinearMatMul": ((0, 3), ()),
           "ConvInteger": ((1,), ()), "MatMulInteger": ((0, 1), ()), "Gather": ((0,), ()),
           "InstanceNormalization": ((1, 2), ()), "LayerNormalization": ((1, 2), ()),
           "LSTM": ((1, 2, 3, 7), ()), "GRU": ((1, 2, 3), ()), "RNN": ((1, 2, 3), ()),
           "Einsum": (tuple(range(8)), ())}
AFFINE_OPS = {"Add", "Sub", "Mul", "Div"}
GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}
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
               "IsInf Hardmax Swish BitwiseNot QuantizeLinear DequantizeLinear"),
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

# ops of onnxruntime's com.microsoft domain that quantized files hold (the quantizer writes
# them) and whose meaning is the same as the table's; any other op of another domain, or
# one of these names in a domain not listed, is unknown (it may hold multiply-adds)
DOMAIN_OPS = {"com.microsoft": frozenset({"QLinearAdd", "QLinearMul", "QLinearConcat",
                                          "QLinearGlobalAveragePool"})}
DEFAULT_DOMAINS = ("", "ai.onnx")


def kind_of(op_type: str, domain: str) -> Kind | None:
    """The kind of an op in its domain, None when the table does not know it there."""
    if domain in DEFAULT_DOMAINS or op_type in DOMAIN_OPS.get(domain, ()):
        return KINDS.get(op_type)
    return None
