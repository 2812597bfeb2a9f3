"""The framework-neutral per-layer record and the report built from a list of them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from edgekit.core.counting import CONVENTIONS, ELEMENT_BITS, numel, tensor_bytes
from edgekit.core.memory import Tensor, plan_memory

SCHEMA_VERSION = 1


@dataclass
class LayerRecord:
    """One layer (or op) of a model, as any reader produces it.

    Shapes have no batch dimension and ``macs`` and ``other_ops`` are per batch item, except
    in a report whose ``batch_in_shapes`` is set (ONNX files): there shapes are whole
    tensors and figures are for one call. ``inputs`` are the names of the producing layers
    (graph edges). ``extra_outputs``: the outputs after the first of an op that has several
    (Split, TopK, LSTM, ...), each ``{"name", "shape", "dtype"}``; they count in the op's
    activation bytes.
    ``alias`` marks ops whose output is a view of their first input (reshape, flatten,
    dropout at inference): the memory planner allocates nothing for them.
    ``counted`` is False for an op the reader does not know: it is listed, but its MACs are
    not counted. ``unknown_size`` marks a layer whose output (or input) size a file leaves
    dynamic: it is listed, uncounted, and its activation bytes are 0, never a guess.
    """

    index: int
    name: str
    op: str
    inputs: list[str] = field(default_factory=list)
    input_shapes: list[tuple[int, ...]] = field(default_factory=list)
    output_shape: tuple[int, ...] = ()
    params_trainable: int = 0
    params_non_trainable: int = 0
    macs: int = 0
    other_ops: int = 0
    attrs: dict[str, Any] = field(default_factory=dict)
    act_dtype: str = "float32"
    weight_dtype: str = "float32"
    alias: bool = False
    counted: bool = True
    unknown_size: bool = False
    extra_outputs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def params(self) -> int:
        return self.params_trainable + self.params_non_trainable

    @property
    def output_elements(self) -> int:
        return numel(self.output_shape)


@dataclass
class Report:
    """A model analysis: layer records plus metadata. Totals are derived, never stored."""

    model: dict[str, Any]
    layers: list[LayerRecord]
    batch: int = 1
    act_dtype: str | None = None   # None: each layer's own dtype (as the file stores it)
    outputs: list[str] = field(default_factory=list)
    # True: the records' shapes hold the whole call (batch included where the model has
    # one, ONNX files); ``batch`` is then what the batch axis was bound to, not a factor
    batch_in_shapes: bool = False

    # -- derived figures -------------------------------------------------------------------
    @property
    def multiplier(self) -> int:
        """What per-record figures are multiplied by for one call."""
        return 1 if self.batch_in_shapes else self.batch

    def dtype_of(self, rec: LayerRecord) -> str:
        dtype = self.act_dtype or rec.act_dtype
        return dtype if dtype in ELEMENT_BITS else "float32"

    def activation_bytes(self, rec: LayerRecord) -> int:
        """Bytes of a layer's output tensors (a view's too: what it would take if copied);
        0 when its size is unknown or its output is not a tensor (a sequence)."""
        if rec.unknown_size:
            return 0
        dtype = self.act_dtype or rec.act_dtype
        total = tensor_bytes(rec.output_elements * self.multiplier, dtype)
        for extra in rec.extra_outputs:
            if extra.get("shape") is not None:
                total += tensor_bytes(numel(extra["shape"]) * self.multiplier,
                                      self.act_dtype or extra["dtype"])
        return total

    def allocated_bytes(self, rec: LayerRecord) -> int:
        """Bytes a layer allocates: its output, or nothing for a view of its input. The
        per-layer 'activation_bytes' of the JSON; they add up to 'activation_bytes_total'."""
        return 0 if rec.alias or rec.unknown_size else self.activation_bytes(rec)

    def tensors(self) -> list[Tensor]:
        return [Tensor(r.name, self.allocated_bytes(r), list(r.inputs),
                       alias_of=r.inputs[0] if r.alias and r.inputs else None)
                for r in self.layers]

    def output_names(self) -> list[str]:
        return self.outputs or ([self.layers[-1].name] if self.layers else [])

    def memory_plan(self, order: list[str] | None = None):
        return plan_memory(self.tensors(), outputs=self.output_names(), order=order)

    def best_schedule(self):
        """The execution order with the lowest peak (exact search or greedy; see memory)."""
        from edgekit.core.memory import best_order

        return best_order(self.tensors(), outputs=self.output_names())

    def totals(self) -> dict[str, Any]:
        params_t = sum(r.params_trainable for r in self.layers)
        params_nt = sum(r.params_non_trainable for r in self.layers)
        params = params_t + params_nt
        macs = sum(r.macs for r in self.layers) * self.multiplier
        plan = self.memory_plan()
        return {
            "params": params,
            "trainable_params": params_t,
            "non_trainable_params": params_nt,
            "macs": macs,
            "flops": 2 * macs,
            "other_ops": sum(r.other_ops for r in self.layers) * self.multiplier,
            "activation_bytes_total": sum(self.allocated_bytes(r) for r in self.layers),
            "peak_activation_bytes": plan.peak_bytes,
            "peak_at_layer": plan.peak_step_name,
            "weight_bytes": {"fp32": 4 * params, "fp16": 2 * params, "int8": params},
            "layers": len(self.layers),
            "uncounted_layers": [r.name for r in self.layers if not r.counted],
            # ops that hold (or may hold: an op edgekit does not know) multiply-adds that
            # the MAC total leaves out
            "uncounted_mac_layers": [r.name for r in self.layers
                                     if not r.counted and r.attrs.get("mac_bearing", True)],
            "unknown_size_layers": [r.name for r in self.layers if r.unknown_size],
            # ops edgekit does not know that read stored tensors: the params total
            # leaves those out (weights or not, edgekit cannot tell)
            "uncounted_param_layers": [r.name for r in self.layers
                                       if r.attrs.get("uncounted_params")],
        }

    def to_dict(self) -> dict[str, Any]:
        """The versioned JSON structure documented in the README."""
        from edgekit import __version__

        layers = []
        for r in self.layers:
            d = asdict(r)
            d["input_shapes"] = [list(s) for s in r.input_shapes]
            d["output_shape"] = list(r.output_shape)
            d["trainable_params"] = d.pop("params_trainable")
            d["non_trainable_params"] = d.pop("params_non_trainable")
            d["params"] = r.params
            d["macs"] = r.macs * self.multiplier
            d["other_ops"] = r.other_ops * self.multiplier
            d["activation_bytes"] = self.allocated_bytes(r)
            layers.append(d)
        return {
            "schema": SCHEMA_VERSION,
            "tool": {"name": "edgekit", "version": __version__},
            # a report of one call: the batch its axis was bound to, null without one
            "model": dict(self.model, batch=self.model.get("batch") if self.batch_in_shapes
                          else self.batch, batch_in_shapes=self.batch_in_shapes,
                          act_dtype=self.act_dtype or "per layer (as stored)"),
            "conventions": list(CONVENTIONS),
            "layers": layers,
            "totals": self.totals(),
        }
