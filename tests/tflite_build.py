"""Write small TFLite files op by op with LiteRT's own schema classes (the object API of
the flatbuffer schema), so that tests can make a file for any builtin operator, including
ones no converter here emits (fused LSTM, MediaPipe's custom ops, WHILE with a body)."""

from __future__ import annotations

import flatbuffers
import numpy as np

TYPES = {np.dtype("float32"): 0, np.dtype("float16"): 1, np.dtype("int32"): 2,
         np.dtype("uint8"): 3, np.dtype("int64"): 4, np.dtype("bool"): 6,
         np.dtype("int8"): 9}


class Graph:
    """One subgraph: tensors (activations or constants) and operators."""

    def __init__(self, builder: TFLite):
        from ai_edge_litert import schema_py_generated as S

        self.S, self.b = S, builder
        self.sg = S.SubGraphT()
        self.sg.tensors, self.sg.operators, self.sg.inputs, self.sg.outputs = [], [], [], []

    def tensor(self, shape, dtype="float32", data=None, name=None) -> int:
        t = self.S.TensorT()
        t.shape = list(shape)
        t.type = TYPES[np.dtype(dtype)]
        t.name = name or f"t{len(self.sg.tensors)}"
        t.buffer = self.b.buffer(None if data is None else np.asarray(data, dtype))
        self.sg.tensors.append(t)
        return len(self.sg.tensors) - 1

    def const(self, array, name=None) -> int:
        array = np.asarray(array)
        return self.tensor(array.shape, array.dtype, array, name)

    def op(self, name: str, inputs, outputs, options=None, options_type=0,
           custom=None) -> None:
        o = self.S.OperatorT()
        o.opcodeIndex = self.b.opcode(name, custom)
        o.inputs, o.outputs = list(inputs), list(outputs)
        if options is not None:
            o.builtinOptions, o.builtinOptionsType = options, options_type
        self.sg.operators.append(o)


class TFLite:
    def __init__(self):
        from ai_edge_litert import schema_py_generated as S

        self.S = S
        self.model = S.ModelT()
        self.model.version = 3
        self.model.buffers = [S.BufferT()]       # buffer 0: the empty one
        self.model.operatorCodes, self.model.subgraphs = [], []
        self.codes: dict = {}

    def graph(self) -> Graph:
        g = Graph(self)
        self.model.subgraphs.append(g.sg)
        return g

    def buffer(self, data) -> int:
        if data is None:
            return 0
        b = self.S.BufferT()
        b.data = np.frombuffer(np.ascontiguousarray(data).tobytes(), np.uint8)
        self.model.buffers.append(b)
        return len(self.model.buffers) - 1

    def opcode(self, name: str, custom=None) -> int:
        key = custom or name
        if key not in self.codes:
            oc = self.S.OperatorCodeT()
            code = getattr(self.S.BuiltinOperator, name)
            oc.builtinCode = code
            oc.deprecatedBuiltinCode = min(code, 127)
            oc.version = 1
            if custom:
                oc.customCode = custom
            self.model.operatorCodes.append(oc)
            self.codes[key] = len(self.model.operatorCodes) - 1
        return self.codes[key]

    def save(self, path) -> None:
        fb = flatbuffers.Builder(1024)
        fb.Finish(self.model.Pack(fb), file_identifier=b"TFL3")
        with open(path, "wb") as f:
            f.write(fb.Output())
