"""The options of `edgekit export`, checked before any work: formats, quantizations,
calibration and validation data, thresholds, --per-layer and --keep-float, the output
folder."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from edgekit.core.choices import CalibrationMethod, Format, IOType, Preprocess, Quant, many, one
from edgekit.core.errors import UsageError
from edgekit.core.files import check_writable, note_input
from edgekit.export.manifest import MANIFEST, previous_manifest
from edgekit.export.samples import check_count


@dataclass
class ExportOptions:
    formats: list[str] = field(default_factory=lambda: [f.value for f in Format])
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
    max_drop: float = 1.0                 # --max-drop, accuracy points (auto)
    min_sqnr: float | None = None         # --min-sqnr, dB of the output (auto)

    def validate(self) -> None:
        self.formats = many(Format, self.formats, "--format")
        self.quants = many(Quant, self.quants, "--quant")
        self.method = one(CalibrationMethod, self.method, "--calibration-method")
        self.io = one(IOType, self.io, "--io")
        self.preprocess = one(Preprocess, self.preprocess, "--preprocess")
        if not 0.0 <= self.min_agreement <= 1.0:
            raise UsageError(f"--min-agreement {self.min_agreement}: must be between 0 and 1")
        check_count(self.samples)
        if self.per_layer and self.quants == ["none"]:
            raise UsageError("--per-layer (and --plot) compare quantized files layer by "
                             "layer: add --quant int8 (or fp16, dynamic)")
        self._check_keep_float()
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
        from edgekit.export.keep_float import AUTO, parse

        if isinstance(self.keep_float, str):
            self.keep_float = parse(self.keep_float)
        if self.keep_float is None:
            return
        if "int8" not in self.quants:
            raise UsageError("--keep-float applies to full-int8 files: add --int8 (or "
                             "--quant int8)")
        if self.keep_float == AUTO and self.validation is None and self.min_sqnr is None:
            raise UsageError("--keep-float auto needs a target: --validation FILE.npz (with "
                             "labels; --max-drop) or --min-sqnr DB")
