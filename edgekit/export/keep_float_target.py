"""What ``--keep-float auto`` aims at, for one candidate file, and how far it ends from it.

With ``--min-sqnr``: the SQNR of the output that degrades most (the lowest over the
outputs: the output the table names as the worst; a model with one output: its SQNR, on
the logits where it ends in softmax). Else the accuracy on the ``--validation`` labels
within ``--max-drop`` points of the float original's: with several labelled outputs, every
one of them, and the figure is that of the output furthest below its own target. Without
labels (a model with several outputs may have none) the figure is the lowest SQNR, with no
target to reach.

Steps are compared on their margin (figure minus target), so that a step whose worst
output changed is still compared fairly with the one before it.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgekit.core import quant_error as qe


@dataclass
class Aim:
    score: float | None          # the figure: dB, or accuracy points
    target: float | None
    unit: str
    output: str | None = None    # the output it is on (a model with several outputs)

    @property
    def margin(self) -> float | None:
        """The figure above its target (the figure itself when there is no target)."""
        if self.score is None:
            return None
        return self.score if self.target is None else self.score - self.target


def reference_accuracies(ctx) -> dict:
    """The float original's accuracy on each labelled output ({None: it} for a Keras
    model with one output)."""
    if ctx.refs is None:
        acc = ctx.keras_accuracy()
        return {} if acc is None else {None: acc}
    from edgekit.export.multi_io import accuracy_per_output

    return accuracy_per_output(ctx.io, ctx.refs, ctx.val.labels)


def accuracies(fid: dict, ctx) -> list[tuple]:
    """(output, the file's accuracy, the float original's) of each labelled output."""
    ref = reference_accuracies(ctx)
    if "per_output" in fid:
        return [(f["output"], f["accuracy"], ref[f["output"]]) for f in fid["per_output"]
                if f.get("accuracy") is not None and f["output"] in ref]
    if fid.get("accuracy") is not None and None in ref:
        return [(None, fid["accuracy"], ref[None])]
    return []


def aim(fid: dict, ctx) -> Aim:
    """The figure auto's target is on, for a file's fidelity ``fid`` (the worst output's
    figures, with ``per_output`` for a model with several outputs)."""
    opts = ctx.opts
    accs = [] if opts.min_sqnr is not None else accuracies(fid, ctx)
    if not accs:
        return Aim(qe.as_float(fid["sqnr_db"]), opts.min_sqnr, "dB", fid.get("output"))
    name, acc, ref = min(accs, key=lambda a: a[1] - a[2])
    return Aim(100 * acc, 100 * ref - opts.drop_allowed, "accuracy points", name)


def reached(fid: dict, ctx) -> bool:
    """The target given: --min-sqnr (and --max-drop too when both are given: either
    suffices), else every labelled output's accuracy within --max-drop (default 1 point)
    of the float original's."""
    opts = ctx.opts
    sqnr = qe.as_float(fid["sqnr_db"])     # 0.0 dB is a figure, not a missing one
    if opts.min_sqnr is not None and sqnr is not None and sqnr >= opts.min_sqnr:
        return True
    if opts.min_sqnr is not None and opts.max_drop is None:
        return False
    accs = accuracies(fid, ctx)
    return bool(accs) and all(acc >= ref - opts.drop_allowed / 100 for _, acc, ref in accs)


def missed(a: Aim) -> dict:
    """How far the file auto ends with is from the target."""
    short = None if a.target is None or a.score is None else round(a.target - a.score, 2)
    out = {"target": a.target, "unit": a.unit, "got": a.score, "short_by": short}
    return out if a.output is None else {**out, "output": a.output}


def says(m: dict, kept: int, stop: str) -> str:
    how = (f"{m['got']:.1f} against {m['target']:.1f} {m['unit']}, short by "
           f"{m['short_by']:.1f}" if m.get("short_by") is not None else "no figure")
    if m.get("output") is not None:
        how = f"output {m['output']}: {how}"
    return (f"--keep-float auto missed its target ({how}, with {kept} layers float); "
            f"stopped on {stop}")
