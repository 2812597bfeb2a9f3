"""The options of `edgekit export`, checked before any work: formats, quantizations,
calibration and validation data, thresholds, --per-layer and --keep-float, the output
folder."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from edgekit.core.choices import CalibrationMethod, Format, IOType, Preprocess, Quant, many, one
from edgekit.core.errors import UsageError
from edgekit.core.files import check_writable, note_input
from edgekit.export.manifest import MANIFEST, previous_manifest
from edgekit.export.samples import check_count

# what each kind of source is exported to
SOURCE_FORMATS = {"keras": ("tflite", "onnx"), "onnx": ("onnx",),
                  "savedmodel": ("tflite", "onnx"), "tflite": ("tflite",)}
SOURCE_LABEL = {"keras": "Keras", "onnx": "float ONNX", "savedmodel": "SavedModel",
                "tflite": "float TFLite"}

# --keep-float auto's accuracy target when --max-drop is not given (points)
DEFAULT_MAX_DROP = 1.0


@dataclass(frozen=True)
class ExportOptions:
    """The plan of one export, parsed once where it is made: choices normalised,
    ``keep_float`` 'auto', a list of layer names or None; a bad combination is one line.
    :meth:`validate` checks what is on disk (data files, the output folder)."""

    formats: list[str] | None = None      # None: every format the source makes
    quants: list[str] = field(default_factory=lambda: ["none"])
    calibration: str | None = None
    samples: int = 100
    method: str = "minmax"
    io: str = "int8"
    preprocess: str = "tf"
    validation: Path | None = None
    min_agreement: float = 0.9
    strict: bool = False
    out_dir: Path | None = None
    per_layer: bool = False               # --per-layer: rows per quantized artefact
    keep_float: str | list | None = None  # --keep-float NAMES|auto (int8 artefacts)
    max_drop: float | None = None         # --max-drop, accuracy points (auto)
    min_sqnr: float | None = None         # --min-sqnr, dB of the output (auto)
    max_size_ratio: float | None = None   # --max-size-ratio: auto's budget, x plain int8
    input_shapes: list = field(default_factory=list)   # --input-shape (an ONNX source)

    def __post_init__(self) -> None:
        from edgekit.export.keep_float import parse

        def put(name, value):
            object.__setattr__(self, name, value)

        if self.formats is not None:
            put("formats", many(Format, self.formats, "--format"))
        put("quants", many(Quant, self.quants, "--quant"))
        put("method", one(CalibrationMethod, self.method, "--calibration-method"))
        put("io", one(IOType, self.io, "--io"))
        put("preprocess", one(Preprocess, self.preprocess, "--preprocess"))
        if isinstance(self.keep_float, str):
            put("keep_float", parse(self.keep_float))
        if self.out_dir is not None and str(self.out_dir) == "-":
            raise UsageError("-o -: export writes a folder of files (the artefacts and "
                             "manifest.json), not a stream; give a folder")
        if not 0.0 <= self.min_agreement <= 1.0:
            raise UsageError(f"--min-agreement {self.min_agreement}: must be between 0 and 1")
        check_count(self.samples)
        if self.per_layer and self.quants == ["none"]:
            raise UsageError("--per-layer (and --plot) compare quantized files layer by "
                             "layer: add --quant int8 (or fp16, dynamic)")
        self._check_keep_float()

    def for_source(self, source: str) -> ExportOptions:
        """The plan with the formats a source of this kind makes (all of them when none
        were asked for); one line for a format it cannot make."""
        makes = SOURCE_FORMATS[source]
        if self.formats is None:
            return replace(self, formats=list(makes))
        cannot = [f for f in self.formats if f not in makes]
        if cannot:
            raise UsageError(f"--format {cannot[0]}: a {SOURCE_LABEL[source]} source is "
                             f"exported to {' and '.join(makes)} (--format "
                             f"{','.join(makes)})")
        return self

    @property
    def drop_allowed(self) -> float:
        """--max-drop in accuracy points (its default when not given)."""
        return DEFAULT_MAX_DROP if self.max_drop is None else self.max_drop

    def validate(self) -> None:
        """The data files exist (and are noted as inputs); the output folder can be one."""
        if self.calibration not in (None, "random") and not Path(self.calibration).exists():
            raise UsageError(f"calibration data not found: {self.calibration}")
        if self.validation is not None and not Path(self.validation).is_file():
            raise UsageError(f"validation data not found: {self.validation}")
        if self.calibration not in (None, "random"):
            note_input(self.calibration)
        if self.validation is not None:
            note_input(self.validation)
        if self.out_dir is not None:
            out = Path(self.out_dir)
            if out.exists() and not out.is_dir():
                raise UsageError(f"output folder {out} is not a writable folder")
            check_writable(out / MANIFEST)  # no file where a folder must go
            if out.is_dir():
                previous_manifest(out)      # not edgekit's: refused before any work

    def _check_keep_float(self) -> None:
        from edgekit.export.keep_float import AUTO

        targets = [o for o, v in (("--max-drop", self.max_drop), ("--min-sqnr", self.min_sqnr),
                                  ("--max-size-ratio", self.max_size_ratio)) if v is not None]
        if self.max_size_ratio is not None and self.max_size_ratio < 1:
            raise UsageError(f"--max-size-ratio {self.max_size_ratio:g}: must be at least 1 "
                             "(the plain int8 file)")
        if targets and self.keep_float != AUTO:
            raise UsageError(f"{' and '.join(targets)} set the target of --keep-float auto: "
                             "add --keep-float auto (or leave them out)")
        if self.keep_float is None:
            return
        if "int8" not in self.quants:
            raise UsageError("--keep-float applies to full-int8 files: add --int8 (or "
                             "--quant int8)")
        if self.keep_float == AUTO and self.validation is None and self.min_sqnr is None:
            raise UsageError("--keep-float auto needs a target: --validation FILE.npz (with "
                             "labels; --max-drop) or --min-sqnr DB")
