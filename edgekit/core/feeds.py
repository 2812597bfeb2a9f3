"""``--inputs FILE.npz``: a model's input values, keyed by input name (numpy only; the file
is read without pickle, so loading it never runs code from it)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgekit.core.errors import UsageError, first_line


def feeds_npz(feeds: dict[str, np.ndarray]) -> bytes:
    """The .npz bytes of ``feeds`` (what a board loads back with :func:`load_feeds`)."""
    import io

    buf = io.BytesIO()
    np.savez(buf, **feeds)
    return buf.getvalue()


def load_feeds(path: Path | str | None) -> dict[str, np.ndarray]:
    """{input name: array} from an .npz file (``np.savez(path, image=..., state=...)``);
    {} when no file is given. One line for a file that is not a readable .npz of numeric
    or boolean arrays."""
    if path is None:
        return {}
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"--inputs {path}: no such file")
    try:
        with np.load(path, allow_pickle=False) as data:
            if not isinstance(data, np.lib.npyio.NpzFile):
                raise ValueError("not an .npz archive")
            feeds = {name: np.asarray(data[name]) for name in data.files}
    except UsageError:
        raise
    except Exception as e:  # zip, pickle and format errors of numpy
        raise UsageError(f"--inputs {path}: not a readable .npz of arrays keyed by input "
                         f"name ({first_line(e)})") from None
    if not feeds:
        raise UsageError(f"--inputs {path}: the file holds no arrays")
    for name, value in feeds.items():
        if value.dtype.kind not in "biuf":
            raise UsageError(f"--inputs {path}: array {name!r} is {value.dtype}; input "
                             "values must be numbers or booleans")
        if value.dtype.kind == "f" and not np.isfinite(value).all():
            raise UsageError(f"--inputs {path}: array {name!r} holds NaN or infinity")
    return feeds
