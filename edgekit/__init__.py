"""edgekit: build, analyze, export and benchmark CNNs for edge devices."""

import os as _os

__version__ = "0.1.0"

# onnxruntime (1.32+ on Linux and macOS) starts Microsoft's telemetry at import: an upload
# thread, and a session file `.ses` in $TMPDIR and a device id under ~/.cache/Microsoft.
# edgekit promises no network and no litter; a user who wants it sets the variable to 0.
_os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
