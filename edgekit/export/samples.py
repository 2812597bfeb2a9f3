"""Calibration and validation inputs: image folders, arrays, scikit-learn's sample images,
or (only when asked) random data. numpy, Pillow and scikit-learn only; no TensorFlow."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgekit.core.errors import UsageError
from edgekit.core.files import note_input

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".ppm", ".tif", ".tiff")

# How pixel values 0..255 become model inputs.
PREPROCESS = {
    "tf": "x / 127.5 - 1 (range -1..1: MobileNet, Xception, the zoo)",
    "unit": "x / 255 (range 0..1)",
    "imagenet": "(x / 255 - mean) / std with ImageNet's mean and std (torchvision)",
    "raw": "x as it is (0..255)",
}
_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


@dataclass
class Samples:
    x: np.ndarray                 # float32, (N, H, W, C): ready for the model (a model with
                                  # several inputs: a list, one array per input)
    y: np.ndarray | None = None   # labels, when known
    source: str = ""              # what the data is, for the manifest and the terminal
    synthetic: bool = False       # random data: only good for timing
    labels: dict = field(default_factory=dict)   # several outputs: {output: labels}


# Calibration takes a seeded random sample of the rows (a file sorted by class, calibrated
# on its first rows, would see one class only); validation takes every row.
SEED = 0


def pick_rows(total: int, limit: int, seed: int = SEED) -> tuple[np.ndarray, str]:
    """(indices of the rows to use, in file order; what they are, for the manifest): all
    of them when there are at most ``limit``, else ``limit`` drawn at random with
    ``seed``."""
    if total <= limit:
        return np.arange(total), f"all {total} samples"
    idx = np.sort(np.random.default_rng(seed).choice(total, size=limit, replace=False))
    return idx, f"{limit} samples drawn at random (seed {seed}) from {total}"


def preprocess(pixels: np.ndarray, mode: str) -> np.ndarray:
    x = pixels.astype(np.float32)
    if mode == "tf":
        return x / 127.5 - 1.0
    if mode == "unit":
        return x / 255.0
    if mode == "imagenet":
        if x.shape[-1] != 3:
            raise UsageError("--preprocess imagenet needs 3-channel inputs")
        return (x / 255.0 - _MEAN) / _STD
    if mode == "raw":
        return x
    raise UsageError(f"--preprocess {mode}: must be one of {', '.join(PREPROCESS)}")


def _fit(img, height: int, width: int, channels: int) -> np.ndarray:
    """Resize (shorter side) and center-crop a PIL image to height x width x channels."""
    from PIL import Image

    img = img.convert("L" if channels == 1 else "RGB")
    scale = max(height / img.height, width / img.width)
    size = (max(width, round(img.width * scale)), max(height, round(img.height * scale)))
    img = img.resize(size, Image.BILINEAR)
    left, top = (img.width - width) // 2, (img.height - height) // 2
    arr = np.asarray(img.crop((left, top, left + width, top + height)), dtype=np.uint8)
    return arr[..., None] if channels == 1 else arr


def fit_pixels(pixels: np.ndarray, shape: tuple) -> np.ndarray:
    """Images (N, H, W, C) of 0..255 values at any size, resized (shorter side) and
    center-cropped to ``shape`` (H, W, C): one validation set for every resolution."""
    from PIL import Image

    h, w, c = shape
    arr = np.clip(np.asarray(pixels), 0, 255).astype(np.uint8)
    if arr.ndim != 4 or arr.shape[-1] not in (1, 3):
        raise UsageError(f"images must be (N, H, W, 1 or 3) arrays of 0..255 values, got "
                         f"shape {arr.shape}")
    return np.stack([_fit(Image.fromarray(a[..., 0] if a.shape[-1] == 1 else a), h, w, c)
                     for a in arr])


def from_folder(folder: Path, shape: tuple, limit: int, mode: str) -> Samples:
    from PIL import Image, UnidentifiedImageError

    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise UsageError(f"no images in {folder} (looked for {', '.join(IMAGE_SUFFIXES)})")
    h, w, c = shape
    pixels = []
    picked, how = pick_rows(len(files), limit)
    for path in [files[i] for i in picked]:
        note_input(path)
        try:
            with Image.open(path) as img:
                pixels.append(_fit(img, h, w, c))
        except (UnidentifiedImageError, OSError) as e:
            raise UsageError(f"cannot read image {path}: {e}") from None
    return Samples(preprocess(np.stack(pixels), mode),
                   source=f"{how.replace('samples', 'images')} in {folder} (preprocess: "
                   f"{mode})")


def sample_images(shape: tuple, count: int, mode: str, seed: int = 0) -> Samples:
    """Real photos that ship with scikit-learn (a Chinese temple and a flower), as ``count``
    random crops at several scales, with flips: real image statistics, no download."""
    from PIL import Image
    from sklearn.datasets import load_sample_images

    rng = np.random.default_rng(seed)
    photos = [Image.fromarray(img) for img in load_sample_images().images]
    h, w, c = shape
    pixels = []
    for i in range(count):
        photo = photos[i % len(photos)]
        side = int(min(photo.size) * rng.uniform(0.3, 1.0))
        left = int(rng.integers(0, photo.width - side + 1))
        top = int(rng.integers(0, photo.height - side + 1))
        crop = photo.crop((left, top, left + side, top + side))
        if rng.random() < 0.5:
            crop = crop.transpose(Image.FLIP_LEFT_RIGHT)
        pixels.append(_fit(crop, h, w, c))
    return Samples(preprocess(np.stack(pixels), mode),
                   source=f"{count} crops of scikit-learn's sample images (preprocess: {mode})")


def from_array(path: Path, shape: tuple, limit: int) -> Samples:
    """An .npy array, or an .npz with 'x' (and optionally 'y'), already preprocessed."""
    from edgekit.core.feeds import load_arrays

    # registered as an input, bounded: every array's declared size checked before it is read
    data = load_arrays(path, "cannot read array file", npy=True)
    if "" not in data:   # an .npz (a lone .npy is data[''])
        keys = list(data.keys())
        key = "x" if "x" in keys else (keys[0] if len(keys) == 1 else None)
        if key is None:
            raise UsageError(f"{path}: an .npz needs an array named 'x' (found: "
                             f"{', '.join(keys)})")
    else:
        key = ""
    head = data.headers[key]   # what the file declares: checked before it is inflated
    sample = head.shape if head.ndim == len(shape) else head.shape[1:]
    if head.size and tuple(sample) != tuple(shape):
        raise UsageError(f"{path}: samples have shape {tuple(sample)}, the model wants "
                         f"{tuple(shape)}")
    x = np.asarray(data[key])
    y = data["y"] if key and "y" in data else None
    if x.size and x.ndim == len(shape):
        x = x[None]
    if x.size == 0 or x.ndim == 0:
        check_data(path, x)     # one line: no samples
    picked, how = pick_rows(len(x), limit)
    if y is not None:
        y = np.asarray(y)
        if y.ndim == 1 and len(y) != len(x):
            raise UsageError(f"{path}: {len(x)} samples but {len(y)} labels")
        y = y[picked] if y.ndim == 1 else y     # any other shape: refused by check_data
    x, y = check_data(path, x[picked], y)
    return Samples(x, y, source=f"{how} from {path}")


def check_data(path, x, y=None, limit: int | None = None, classes: int | None = None,
               pixels: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """The one check of calibration and validation arrays, for every command that reads
    them (export's --calibration/--validation, sweep's --validation): samples present,
    numeric, finite (and 0..255 for ``pixels``); labels, when given, one integer class
    index per sample (within ``classes`` when known). (x as float32, y as int64), or one
    line naming the file and what is wrong."""
    x = np.asarray(x)
    if x.size == 0 or x.ndim == 0:
        raise UsageError(f"{path}: the array holds no samples (shape {x.shape})")
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_) \
            or np.issubdtype(x.dtype, np.complexfloating):
        raise UsageError(f"{path}: array dtype {x.dtype} is not numeric")
    x = x[:limit].astype(np.float32)
    bad = int(np.size(x) - np.count_nonzero(np.isfinite(x)))
    if bad:
        raise UsageError(f"{path}: {bad} input values are NaN or infinite; fix the data "
                         "(quantization ranges and fidelity figures would be meaningless)")
    if pixels and (x.min() < 0 or x.max() > 255):
        raise UsageError(f"{path}: images must hold pixel values 0..255 (found "
                         f"{float(x.min()):g}..{float(x.max()):g})")
    if y is not None:
        y = _labels(path, y, len(x), limit)
        if classes is not None:
            check_labels(Samples(x, y, source=str(path)), classes)
    return x, y


def _labels(path: Path, y, samples: int, limit: int) -> np.ndarray:
    """Integer class labels, one per sample, or one line naming what is wrong."""
    y = np.asarray(y)
    if y.ndim > 1:
        raise UsageError(f"{path}: labels 'y' must be one class index per sample (shape "
                         f"{y.shape}; one-hot labels: store their argmax)")
    if y.ndim == 0:
        raise UsageError(f"{path}: labels 'y' must be one class index per sample (got one "
                         "number)")
    y = y[:limit]
    if len(y) != samples:
        raise UsageError(f"{path}: {samples} samples but {len(y)} labels")
    if not np.issubdtype(y.dtype, np.integer):
        if np.issubdtype(y.dtype, np.floating) and np.all(np.isfinite(y)) \
                and np.all(y == np.round(y)):
            return y.astype(np.int64)
        raise UsageError(f"{path}: labels 'y' must be integer class indices (dtype "
                         f"{y.dtype})")
    return y.astype(np.int64)


def check_labels(samples: Samples, classes: int) -> None:
    """Labels must name one of the model's ``classes`` outputs."""
    if samples.y is None:
        return
    outside = (samples.y < 0) | (samples.y >= classes)
    if outside.any():
        first = int(samples.y[outside][0])
        raise UsageError(f"{samples.source}: {int(outside.sum())} labels are outside the "
                         f"model's {classes} classes (0..{classes - 1}), e.g. {first}")


def random_samples(shape: tuple, count: int, mode: str, seed: int = 0) -> Samples:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, size=(count, *shape), dtype=np.uint8)
    return Samples(preprocess(pixels, mode), source=f"{count} random images (timing only)",
                   synthetic=True)


def check_count(count: int) -> None:
    from edgekit.core.choices import MAX_SAMPLES

    if count < 1:
        raise UsageError(f"--calibration-samples {count}: must be >= 1")
    if count > MAX_SAMPLES:
        raise UsageError(f"--calibration-samples {count}: must be <= {MAX_SAMPLES:,}")


def load_samples(spec: str | None, shape: tuple, count: int, mode: str = "tf") -> Samples:
    """Calibration/validation data from a user's spec: None (scikit-learn's sample images),
    'random', a folder of images, or an .npy/.npz file."""
    check_count(count)
    if spec is None:
        return sample_images(shape, count, mode)
    if spec == "random":
        return random_samples(shape, count, mode)
    path = Path(spec)
    if not path.exists():
        raise UsageError(f"calibration data not found: {path}")
    if path.is_dir():
        return from_folder(path, shape, count, mode)
    if path.suffix.lower() in (".npy", ".npz"):
        return from_array(path, shape, count)
    raise UsageError(f"calibration data {path}: expected a folder of images, an .npy/.npz "
                     "file, or 'random'")
