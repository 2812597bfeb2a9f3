"""The TFLite op table: every builtin operator's kind, the inputs that hold its weights, and
which ops hold multiply-adds. Data only (no framework): the TFLite reader maps ops through
it, the counting is :mod:`edgekit.core.ops`'s, as for every format. A test checks that
every builtin of the installed LiteRT schema has a place here.
"""

from __future__ import annotations

from edgekit.core.ops import Kind, each

# op -> positions of its weight inputs
WEIGHT_INPUTS = {"CONV_2D": (1, 2), "DEPTHWISE_CONV_2D": (1, 2), "FULLY_CONNECTED": (1, 2),
                 "TRANSPOSE_CONV": (1, 3), "CONV_3D": (1, 2),
                 # MediaPipe's transposed convolution: input, weights (O, kh, kw, I), bias
                 "CUSTOM:Convolution2DTransposeBias": (1, 2)}
# recurrent ops: their MACs per step are the elements of their weight matrices
# (input-to-gate, recurrent, projection), which sit at these input positions
RECURRENT_WEIGHTS = {
    "UNIDIRECTIONAL_SEQUENCE_LSTM": (1, 2, 3, 4, 5, 6, 7, 8, 16),
    "LSTM": (1, 2, 3, 4, 5, 6, 7, 8, 16),
    "BIDIRECTIONAL_SEQUENCE_LSTM": (1, 2, 3, 4, 5, 6, 7, 8, 16,
                                    18, 19, 20, 21, 22, 23, 24, 25, 33),
    "UNIDIRECTIONAL_SEQUENCE_RNN": (1, 2), "RNN": (1, 2),
    "BIDIRECTIONAL_SEQUENCE_RNN": (1, 2, 5, 6),
}
# ops that hold multiply-adds; an op outside this set and the control-flow ops has none
MAC_OPS = frozenset({
    "CONV_2D", "CONV_3D", "CONV_3D_TRANSPOSE", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV",
    "FULLY_CONNECTED", "BATCH_MATMUL", "SVDF", "RFFT2D", "STABLEHLO_CONVOLUTION",
    "STABLEHLO_DOT_GENERAL", *RECURRENT_WEIGHTS})
# ops that run other subgraphs (or code the file does not hold): they hold multiply-adds
# when what they run does, which the reader decides from the file
CALLS = frozenset({"WHILE", "IF", "CALL", "CALL_ONCE", "STABLEHLO_WHILE", "STABLEHLO_CASE",
                   "STABLEHLO_COMPOSITE", "STABLEHLO_CUSTOM_CALL", "DELEGATE",
                   "PLACEHOLDER_FOR_GREATER_OP_CODES"})


def _kinds() -> dict[str, Kind]:
    return {
        **each(Kind.VIEW, "RESHAPE SQUEEZE EXPAND_DIMS BITCAST STABLEHLO_RESHAPE"),
        **each(Kind.ACTIVATION, "RELU RELU6 RELU_N1_TO_1 RELU_0_TO_1 LOGISTIC TANH "
               "HARD_SWISH LEAKY_RELU PRELU ELU SOFTMAX LOG_SOFTMAX GELU QUANTIZE DEQUANTIZE "
               "FAKE_QUANT ABS NEG SQRT RSQRT SQUARE EXP LOG SIN COS CEIL FLOOR ROUND SIGN "
               "LOGICAL_NOT COMPLEX_ABS REAL IMAG STABLEHLO_ABS STABLEHLO_CBRT "
               "STABLEHLO_COSINE STABLEHLO_EXPONENTIAL STABLEHLO_FLOOR STABLEHLO_LOG "
               "STABLEHLO_LOGISTIC STABLEHLO_NEGATE STABLEHLO_RSQRT STABLEHLO_TANH "
               "STABLEHLO_CONVERT"),
        **each(Kind.ELEMENTWISE, "ADD SUB MUL DIV MAXIMUM MINIMUM SQUARED_DIFFERENCE POW "
               "ADD_N FLOOR_DIV FLOOR_MOD ATAN2 EQUAL NOT_EQUAL GREATER GREATER_EQUAL LESS "
               "LESS_EQUAL LOGICAL_AND LOGICAL_OR SELECT SELECT_V2 BITWISE_XOR RIGHT_SHIFT "
               "STABLEHLO_ADD STABLEHLO_SUBTRACT STABLEHLO_MULTIPLY STABLEHLO_DIVIDE "
               "STABLEHLO_MAXIMUM STABLEHLO_MINIMUM STABLEHLO_POWER STABLEHLO_REMAINDER "
               "STABLEHLO_AND STABLEHLO_OR STABLEHLO_SHIFT_LEFT STABLEHLO_COMPARE "
               "STABLEHLO_SELECT STABLEHLO_CLAMP"),
        **each(Kind.NORM, "L2_NORMALIZATION LOCAL_RESPONSE_NORMALIZATION"),
        **each(Kind.SHAPE, "PAD PADV2 MIRROR_PAD CONCATENATION TRANSPOSE STRIDED_SLICE SLICE "
               "SPLIT SPLIT_V PACK UNPACK GATHER GATHER_ND SHAPE RANK RESIZE_BILINEAR "
               "RESIZE_NEAREST_NEIGHBOR TILE CAST SPACE_TO_DEPTH DEPTH_TO_SPACE "
               "BATCH_TO_SPACE_ND SPACE_TO_BATCH_ND BROADCAST_TO BROADCAST_ARGS FILL RANGE "
               "ONE_HOT REVERSE_V2 REVERSE_SEQUENCE SCATTER_ND SPARSE_TO_DENSE MATRIX_DIAG "
               "MATRIX_SET_DIAG ZEROS_LIKE WHERE UNIQUE TOPK_V2 EMBEDDING_LOOKUP "
               "EMBEDDING_LOOKUP_SPARSE CONCAT_EMBEDDINGS DYNAMIC_UPDATE_SLICE DILATE "
               "BUCKETIZE DENSIFY NON_MAX_SUPPRESSION_V4 NON_MAX_SUPPRESSION_V5 "
               "LSH_PROJECTION SKIP_GRAM HASHTABLE HASHTABLE_FIND HASHTABLE_IMPORT "
               "HASHTABLE_LOOKUP HASHTABLE_SIZE VAR_HANDLE READ_VARIABLE ASSIGN_VARIABLE "
               "RANDOM_STANDARD_NORMAL RANDOM_UNIFORM MULTINOMIAL "
               "STABLEHLO_BROADCAST_IN_DIM STABLEHLO_CONCATENATE STABLEHLO_DYNAMIC_SLICE "
               "STABLEHLO_DYNAMIC_UPDATE_SLICE STABLEHLO_GATHER STABLEHLO_IOTA STABLEHLO_PAD "
               "STABLEHLO_SLICE STABLEHLO_TRANSPOSE STABLEHLO_SCATTER STABLEHLO_SORT "
               "STABLEHLO_RNG_BIT_GENERATOR"),
        **each(Kind.GLOBAL_POOL, "MEAN SUM REDUCE_MAX REDUCE_MIN REDUCE_PROD REDUCE_ALL "
               "REDUCE_ANY ARG_MAX ARG_MIN CUMSUM SEGMENT_SUM UNSORTED_SEGMENT_MAX "
               "UNSORTED_SEGMENT_MIN UNSORTED_SEGMENT_PROD UNSORTED_SEGMENT_SUM "
               "REDUCE_WINDOW STABLEHLO_REDUCE STABLEHLO_REDUCE_WINDOW"),
        **each(Kind.POOL, "AVERAGE_POOL_2D MAX_POOL_2D L2_POOL_2D"),
        **each(Kind.CONV, "CONV_2D CONV_3D"),
        **each(Kind.TRANSPOSED_CONV, "TRANSPOSE_CONV CUSTOM:Convolution2DTransposeBias"),
        **each(Kind.RECURRENT, " ".join(RECURRENT_WEIGHTS)),
        "DEPTHWISE_CONV_2D": Kind.DEPTHWISE,
        "FULLY_CONNECTED": Kind.DENSE, "BATCH_MATMUL": Kind.DENSE,
    }


KINDS = _kinds()


def named_subgraphs(op) -> list[int]:
    """The subgraph indices an operator's options name (WHILE's condition and body, IF's
    branches, CALL_ONCE, the bodies of StableHLO's reduce, scatter, sort...): read from
    the options themselves (any field naming a subgraph), not from a list of op names."""
    found: list[int] = []
    for opts in (getattr(op, "builtinOptions", None), getattr(op, "builtinOptions2", None)):
        for key, value in (vars(opts).items() if opts is not None else ()):
            if "ubgraph" not in key or value is None:
                continue
            values = value if isinstance(value, (list, tuple)) else (
                list(value) if hasattr(value, "__len__") else [value])
            found.extend(int(v) for v in values)
    return found



def file_text(value) -> str:
    """A name a .tflite file holds (a tensor's, a custom op's) as text: the file's bytes,
    not always UTF-8 (what is not is replaced, never an error)."""
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode(errors="replace")
    return str(value)
