"""The one place that imports TensorFlow/Keras, quietly. Import this module lazily."""

from __future__ import annotations

import logging
import os
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
warnings.filterwarnings("ignore", category=UserWarning, module="keras")

from edgekit.core.quiet import quiet_stderr  # noqa: E402

# TensorFlow's C++ side prints INFO lines (CUDA stubs, CPU features) straight to fd 2 before
# absl logging is set up, whatever TF_CPP_MIN_LOG_LEVEL says; hide them during the import.
with quiet_stderr():
    import keras
    import tensorflow as tf

tf.get_logger().setLevel(logging.ERROR)
logging.getLogger("absl").setLevel(logging.ERROR)

__all__ = ["tf", "keras"]
