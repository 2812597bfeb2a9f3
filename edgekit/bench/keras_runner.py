"""Keras/TensorFlow as the baseline runtime (imports TensorFlow; load lazily)."""

from __future__ import annotations

import numpy as np

from edgekit.bench.runners import IOSpec


class KerasRunner:
    runtime = "keras"

    def __init__(self, model, threads: int | None = None):
        from edgekit._tf import tf

        if threads:
            try:  # only possible before TF's thread pools start
                tf.config.threading.set_intra_op_parallelism_threads(threads)
                tf.config.threading.set_inter_op_parallelism_threads(1)
            except RuntimeError:
                pass
        self.model = model
        self.threads = threads
        self.provider = "cpu" if not tf.config.list_physical_devices("GPU") else "gpu"
        self.label = model.name
        self._fn = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
        self._tf = tf

    @property
    def inputs(self) -> list[IOSpec]:
        return [IOSpec("input", tuple(self.model.inputs[0].shape), "float32")]

    def prepare(self, x: np.ndarray):
        return self._tf.constant(x.astype(np.float32))

    def invoke(self, prepared):
        return self._fn(prepared)

    def run(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.invoke(self.prepare(x)))
