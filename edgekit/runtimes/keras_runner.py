"""Keras/TensorFlow as the baseline runtime (imports TensorFlow; load lazily)."""

from __future__ import annotations

import numpy as np

from edgekit.runtimes.tensors import IOSpec


class KerasRunner:
    """A ``tf.function`` around the model. TensorFlow's thread pools are process-wide and
    fixed once started, so this runner has no thread setting: results report threads as
    None (TF's own pools)."""

    runtime = "keras"

    def __init__(self, model):
        from edgekit._tf import tf

        self.model = model
        self.threads = None
        self.provider = "cpu" if not tf.config.list_physical_devices("GPU") else "gpu"
        self.label = model.name
        self._fn = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
        self._tf = tf

    @property
    def inputs(self) -> list[IOSpec]:
        return [IOSpec("input", tuple(self.model.inputs[0].shape), "float32")]

    def prepare(self, x):
        """A float batch, or a one-element list of it (this runner feeds one input)."""
        x = x if isinstance(x, np.ndarray) else x[0]
        return self._tf.constant(x.astype(np.float32))

    def invoke(self, prepared):
        return self._fn(prepared)

    def run(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.invoke(self.prepare(x)))
