"""The build stage of a sweep: one config's analysis, export (cached), fidelity, published
figure, estimate and fit, and validation accuracy. A plain function of its arguments: it
runs in the sweep's process (``--executor local``) or as a Ray task on any node, where it
uses that node's own export cache (EDGEKIT_CACHE there, default ~/.cache/edgekit)."""

from __future__ import annotations

import time
from pathlib import Path

from edgekit.core.errors import EdgekitError, UsageError, first_line

WEIGHT_BYTES = {"none": 4, "fp16": 2, "dynamic": 1, "int8": 1}


def failure_reason(e: Exception) -> str:
    """One line for a config that failed, wherever it ran: edgekit's own message, or the
    type and first line of anything else (a library's error, a bug)."""
    return first_line(Exception(str(e) if isinstance(e, EdgekitError)
                                else f"{type(e).__name__}: {first_line(e)}"))


def build_config(config: dict, settings: dict, validation=None) -> dict:
    """The row of one config. ``validation``: the labelled images as arrays (x, y), already
    checked (they travel as data, not as a path); used when ``settings['validation']``."""
    from edgekit.services.analyze import analysis
    from edgekit.services.export import cached_export
    from edgekit.services.sweep_configs import config_knobs
    from edgekit.services.targets import keras_model, resolve_target

    t0 = time.monotonic()
    quant = config["quant"]
    target = resolve_target(config["model"], config_knobs(config))
    model = keras_model(target)
    a = analysis(target, dtype="int8" if quant == "int8" else "float32",
                 profile=settings["profile"], model=model)
    totals = a.report.totals()
    files = cached_export(target, quant, model=model, runtimes=tuple(settings["runtimes"]))
    arts, samples = _artifacts(files, quant)
    row = {**config, "params": totals["params"], "macs": totals["macs"],
           "peak_activation_bytes": totals["peak_activation_bytes"],
           "weights_bytes": totals["params"] * WEIGHT_BYTES[quant],
           "files": {rt: {"path": str(p), "bytes": arts[rt]["bytes"],
                          "sha256": arts[rt]["sha256"]} for rt, p in files.items()},
           "fidelity": {rt: {k: arts[rt]["fidelity"].get(k)
                             for k in ("top1_agreement", "cosine", "sqnr_db")}
                        for rt in files},
           "fidelity_samples": samples, "published": _published(config)}
    if a.estimate is not None:
        row["estimate"] = _estimate(a.estimate, row, totals, settings)
    if settings["validation"] is not None:
        if validation is None:
            raise EdgekitError(f"{config['id']}: the validation data did not reach the build")
        row["validation"] = validation_accuracy(
            files[settings["runtimes"][0]], *validation, tuple(a.report.model["input_shape"]),
            name=f"--validation {settings['validation']['path']}")
    row["build_s"] = round(time.monotonic() - t0, 2)
    return row


def _artifacts(files: dict, quant: str) -> tuple[dict, int]:
    """The manifest entries of the cached files, each checked to be the file the manifest
    names (size and sha256): a cache entry changed behind edgekit's back is named, never
    used under another file's hash."""
    from edgekit.core.choices import RUNTIME_OF_FORMAT
    from edgekit.core.documents import MANIFEST
    from edgekit.services.sweep_store import is_the_file

    folder = next(iter(files.values())).parent
    manifest = MANIFEST.read(folder / "manifest.json", own=True)   # checked by its home
    arts = {RUNTIME_OF_FORMAT[x["format"]]: x for x in manifest["artifacts"]
            if x["quant"] == quant}
    for rt, p in files.items():
        if not is_the_file(p, arts[rt]):
            raise EdgekitError(f"{p} in the export cache is not the file its manifest names "
                               f"(sha256 {arts[rt]['sha256'][:12]}…): remove {folder} to "
                               "export it again")
    return arts, manifest["validation"]["samples"]


def _published(config: dict) -> dict | None:
    from edgekit.zoo.published import lookup

    p = lookup(config["model"], config.get("alpha"), config["resolution"], config["quant"],
               knobs={"variant": config.get("variant"),
                      "minimalistic": config.get("minimalistic")})
    if p is None:
        return None
    return {k: p[k] for k in ("top1", "top5", "checkpoint", "macs_millions",
                              "params_millions")} | {"source": p["source"]["id"],
                                                     "url": p["source"]["url"]}


def _estimate(est: dict, row: dict, totals: dict, settings: dict) -> dict:
    from edgekit.core.device_profiles import fit, get_profile

    flash = row["files"][settings["runtimes"][0]]["bytes"]
    f = fit(flash, totals["peak_activation_bytes"], get_profile(settings["profile"]))
    return {"profile": settings["profile"], "ms": est["time_s"] * 1e3,
            "method": est["method"], "flash_fit": f["weights_fit"],
            "ram_fit": f["activations_fit"], "fits": f["fits"]}


def validation_data(path: Path, classes: int | None = None):
    """Labelled images (any size) from an .npz, checked by export's one data check
    (samples.check_data): finite 0..255 pixels, one integer class index per image within
    the model's classes. (x, y) arrays, or one line naming the file."""
    from edgekit.core.feeds import load_arrays
    from edgekit.export.samples import check_data

    data = load_arrays(path, "--validation")   # registered, bounded, declared sizes first
    if "x" not in data or "y" not in data:
        raise UsageError(f"--validation {path}: needs an .npz with 'x' (images, N×H×W×C, "
                         "0..255, any size) and 'y' (class indices); it holds "
                         f"{', '.join(map(repr, data))}")
    x = data.headers["x"]   # what the file declares: checked before it is inflated
    if x.ndim != 4 or x.shape[-1] not in (1, 3) or not x.shape[0]:
        raise UsageError(f"--validation {path}: 'x' must be N×H×W×C images, C 1 or 3 (got "
                         f"{x.shape})")
    return check_data(f"--validation {path}", data["x"], data["y"], classes=classes,
                      pixels=True)


def validation_accuracy(path: Path, x, y, shape: tuple, name: str = "--validation") -> dict:
    """Top-1 of an exported file on images resized to its input (preprocess: x/127.5-1)."""
    import numpy as np

    from edgekit.export.pipeline import run_artifact
    from edgekit.export.samples import check_data, fit_pixels, preprocess

    out, _ = run_artifact(Path(path), preprocess(fit_pixels(x, shape), "tf"))
    check_data(name, x, y, classes=int(np.prod(out.shape[1:])),  # labels vs outputs
               pixels=True)
    return {"top1": float(np.mean(np.argmax(out, axis=1) == y)) * 100, "samples": len(y)}
