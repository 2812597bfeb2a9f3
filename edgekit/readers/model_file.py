"""A model file's bytes, read through the one reader of user files
(:func:`edgekit.core.reading.open_input`): registered as an input of the command, a regular
file within the model limit."""

from __future__ import annotations

import os
from pathlib import Path

from edgekit.core.errors import ModelFileError
from edgekit.core.reading import MODEL_LIMIT, open_input


def read_model(path: Path, what: str) -> bytes:
    """A model file's bytes, opened through the one reader (registered as an input of the
    command, a regular file within the model limit); read to its size, not to the limit
    (a read of up to 64 GiB would allocate that much first)."""
    with open_input(path, what, MODEL_LIMIT) as f:
        size = os.fstat(f.fileno()).st_size
        data = f.read(size + 1)
    if len(data) > size:
        raise ModelFileError(f"cannot read {what} {path}: it grew while it was read")
    return data
