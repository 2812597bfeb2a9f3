"""Fixed choices of the command line, as Enums: the CLI lists them in --help, and every
layer validates a value against the same set with the same one-line error."""

from __future__ import annotations

from enum import StrEnum

from edgekit.core.errors import UsageError


class Quant(StrEnum):
    NONE = "none"          # float32
    FP16 = "fp16"          # float16 weights
    DYNAMIC = "dynamic"    # int8 weights, activations quantized at run time
    INT8 = "int8"          # full integer, calibrated


QUANT_LABEL = {"none": "fp32", "fp16": "fp16", "dynamic": "dynamic", "int8": "int8"}


class Format(StrEnum):
    TFLITE = "tflite"
    ONNX = "onnx"


class Runtime(StrEnum):
    LITERT = "litert"
    ONNXRUNTIME = "onnxruntime"
    KERAS = "keras"


RUNTIME_OF_FORMAT = {"tflite": "litert", "onnx": "onnxruntime"}


class CalibrationMethod(StrEnum):
    MINMAX = "minmax"
    ENTROPY = "entropy"
    PERCENTILE = "percentile"


class IOType(StrEnum):
    INT8 = "int8"
    FLOAT = "float"


class Preprocess(StrEnum):
    TF = "tf"              # x / 127.5 - 1
    UNIT = "unit"          # x / 255
    IMAGENET = "imagenet"  # (x / 255 - mean) / std
    RAW = "raw"            # 0..255


class MemorySchedule(StrEnum):
    GIVEN = "given"
    BEST = "best"


def listing(enum: type[StrEnum]) -> str:
    """'none, fp16, dynamic, int8'"""
    return ", ".join(m.value for m in enum)


def one(enum: type[StrEnum], value: str, option: str) -> str:
    """``value`` (case-insensitive) as a member's value, or a one-line usage error."""
    v = str(value).strip().lower()
    values = [m.value for m in enum]
    if v not in values:
        allowed = " or ".join(values) if len(values) == 2 else "one of " + listing(enum)
        raise UsageError(f"{option} {value}: must be {allowed}")
    return v


def many(enum: type[StrEnum], value: str | list, option: str) -> list[str]:
    """A comma-separated list (or a list) of members' values, duplicates dropped."""
    items = value.split(",") if isinstance(value, str) else list(value)
    items = [str(v).strip() for v in items if str(v).strip()]
    if not items:
        raise UsageError(f"{option} needs at least one of {listing(enum)}")
    values = [m.value for m in enum]
    for v in items:
        if v.lower() not in values:
            raise UsageError(f"{option} {v}: must be one of {listing(enum)} (comma-separated)")
    return list(dict.fromkeys(v.lower() for v in items))


# ---- limits (stated in --help; a value beyond them is one line, not a crash) ----------
MAX_THREADS = 256            # no runtime gains past the cores; LiteRT segfaults at 100000
MAX_BATCH = 65_536           # timed batches; analysis batches may go to MAX_ANALYZE_BATCH
MAX_ANALYZE_BATCH = 10**9    # figures stay exact integers at any size below
MAX_RUNS = 1_000_000
MAX_WARMUP = 100_000
MAX_SECONDS = 86_400.0       # a day
MAX_SAMPLES = 100_000


def in_range(value, lo, hi, option: str, unit: str = ""):
    """``value`` if finite and lo <= value <= hi, else one usage line (core.numbers)."""
    from edgekit.core.numbers import read_number

    integer = isinstance(value, int) and not isinstance(value, bool)
    return read_number(value, option, lo, hi, unit, integer=integer)
