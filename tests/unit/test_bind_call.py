"""core.shapes.bind_call, the one rule by which the ONNX reader and every runtime bind the
sizes of a call, on generated models: declared shapes (fixed, named and unnamed dynamic
dimensions), given shapes and batches."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgekit.core.errors import UsageError
from edgekit.core.shapes import ShapeSpec, bind_call

SYMBOLS = [None, "batch", "N", "seq"]


@st.composite
def models(draw):
    """{input: declared dims (None dynamic)}, {input: symbol of each dim}."""
    declared, symbols = {}, {}
    for k in range(draw(st.integers(1, 3))):
        rank = draw(st.integers(0, 4))
        dims, marks = [], []
        for _ in range(rank):
            if draw(st.booleans()):
                dims.append(draw(st.integers(1, 9)))
                marks.append(None)
            else:
                dims.append(None)
                marks.append(draw(st.sampled_from(SYMBOLS)))
        declared[f"in{k}"] = tuple(dims)
        symbols[f"in{k}"] = tuple(marks)
    return declared, symbols


@settings(max_examples=400, deadline=None)
@given(models(), st.one_of(st.none(), st.integers(1, 64)), st.data())
def test_binding_honours_what_is_fixed_and_given_and_takes_no_other_axis(model, batch, data):
    declared, symbols = model
    names = list(declared)
    specs = []
    for name in data.draw(st.lists(st.sampled_from(names), unique=True, max_size=len(names))):
        dims = tuple(d if d is not None else data.draw(st.integers(1, 600))
                     for d in declared[name])
        if dims:
            specs.append(ShapeSpec(name, dims))
    first = names[0]
    axis = bool(declared[first]) and declared[first][0] is None
    try:
        bound, known = bind_call(declared, specs, batch, symbols)
    except UsageError as e:
        # refused only for a batch > 1 without a batch axis, or one a given shape contradicts
        given_first = next((s for s in specs if s.name == first), None)
        assert batch is not None and (
            (not axis and declared[first] and batch != 1)
            or (axis and given_first is not None and given_first.dims[0] != batch)), str(e)
        return
    for spec in specs:                       # given shapes exactly, never replaced
        assert bound[spec.name] == spec.dims
    given_names = {s.name for s in specs}
    symbol = symbols[first][0] if axis else None
    for name, dims in declared.items():
        for pos, d in enumerate(dims):
            if d is not None:                # a fixed size is never changed
                assert bound[name][pos] == d
            elif name not in given_names:
                takes_batch = axis and ((name == first and pos == 0) or (
                    symbols[name][pos] == symbol if symbol is not None
                    else pos == 0 and symbols[name][pos] is None))
                # the batch lands only on the batch axis and its symbol, nowhere else
                assert bound[name][pos] == ((batch or 1) if takes_batch else None)
    assert known == (bound[first][0] if axis else None)


def test_a_state_input_shares_the_batch_axis_by_symbol():
    bound, known = bind_call({"x": (None, 64), "h": (2, None, 128)}, [], 4,
                             {"x": ("batch", None), "h": (None, "batch", None)})
    assert bound == {"x": (4, 64), "h": (2, 4, 128)} and known == 4
    with pytest.raises(UsageError, match="declares no batch axis"):
        bind_call({"h": (2, None, 128)}, [], 4, {"h": (None, "batch", None)})
