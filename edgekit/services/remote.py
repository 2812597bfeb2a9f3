"""Device use cases: bench, profile and calibrate on a board over a transport. Models are
exported and analyzed here (the host); the board gets the files and times them with the
same runtime layer and the same method as a local run, so the rows are the same."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from edgekit.bench.run import BenchOptions, Subject, entry, settings
from edgekit.core.devices import Device, get_device
from edgekit.core.errors import EdgekitError
from edgekit.core.feeds import feeds_npz
from edgekit.remote.board import Board


@contextmanager
def session(device: str | Device, notify: Callable[[str], None] = lambda m: None):
    """A connected board with edgekit's runtime layer on it."""
    dev = get_device(device) if isinstance(device, str) else device
    with Board(dev, notify) as board:
        yield board


def add(device: Device, force: bool = False) -> Path:
    """Store a device once ssh has read its options as it will at use (ssh -G: a value
    ssh rejects is refused now, exit 2, not at the first connection)."""
    from edgekit.core.devices import add_device
    from edgekit.remote.transport import check_ssh_config

    check_ssh_config(device)
    return add_device(device, force=force)


def reachable(device: Device, notify: Callable[[str], None] = lambda m: None) -> None:
    """Connect to ``device`` and leave (bounded: a silent board is given up in
    connect_timeout + 5 s): for a command that does local work before it needs the board
    ('profile --lut --device'), so that an unreachable board or a refused login is said
    before that work, not after it."""
    from edgekit.remote.transport import transport_for

    notify(f"Checking that {device.name} ({device.url}) answers")
    transport = transport_for(device)
    try:
        transport.open()
    finally:
        transport.close()


def device_block(board: Board) -> dict:
    """The ``"device"`` block of a result: which device, how it was reached, what it is."""
    return {**board.device.to_dict(), "fingerprint": board.hello["fingerprint"],
            "runtimes": board.hello["runtimes"], "code": board.code,
            "session": {k: round(v, 3) for k, v in board.timings.items()}}


def check(device: str, notify=lambda m: None) -> dict:
    """Connect, ship, say hello: the device block and what the agent imported there."""
    with session(device, notify) as board:
        return {"device": device_block(board), "imported": board.imported}


def device_runtimes(board: Board, wanted: list[str] | None) -> list[str]:
    """The runtimes to time on the board: those asked for (each must be there), or by
    default those of LiteRT and onnxruntime that the board has."""
    if wanted is not None:
        for r in wanted:
            board.require(r)
        return wanted
    have = [r for r in ("litert", "onnxruntime") if board.hello["runtimes"][r]]
    if not have:
        board.require("litert")   # says what to install
    return have


def bench_on(board: Board, subjects: list[Subject], opts: BenchOptions,
             host_peak_gmacs: dict | None = None) -> tuple[list[dict], EdgekitError | None]:
    """Time every setting of ``subjects`` on the board: (rows, the error that stopped the
    run early, if one did; the rows finished before it are kept)."""
    plan = [(subject, s) for subject in subjects for s in settings(subject, opts)]
    have = board.hello["runtimes"]["providers"]
    for runtime in dict.fromkeys(s.runtime for _, s in plan):
        board.require(runtime)
    for provider in dict.fromkeys(s.provider for _, s in plan if s.provider):
        if provider not in have and not opts.allow_fallback:
            raise EdgekitError(f"{board.device.name}'s onnxruntime has no {provider!r} "
                               f"execution provider; it has: {', '.join(have)}")
    remote = board.ship(list(dict.fromkeys(Path(s.file) for _, s in plan)))
    request = [s.to_dict(f"{subject.name} | {s.runtime}", remote[Path(s.file)])
               for subject, s in plan]
    method = opts.method()
    if method.feeds:   # --inputs: the values travel as an .npz, loaded on the board
        method.feeds_file = board.ship_bytes(feeds_npz(method.feeds), ".npz")
    reply = board.call({"op": "bench", "settings": request, "batches": opts.batches,
                        "method": method.to_dict()})
    rows = [entry(*plan[r["setting"]], r["timed"], host_peak_gmacs) for r in reply.rows]
    return rows, reply.error


def profile_on(board: Board, path: Path, runs: int, warmup: int, threads: int | None,
               provider: str, specs, batch: int | None, feeds: dict | None = None) -> dict:
    board.require("onnxruntime")
    remote = board.ship([Path(path)])[Path(path)]
    reply = board.call({"op": "profile", "file": remote, "label": str(path), "runs": runs,
                        "warmup": warmup, "threads": threads, "provider": provider,
                        "input_shapes": [[s.name, list(s.dims)] for s in specs],
                        "batch": batch, "feeds_file": board.ship_bytes(
                            feeds_npz(feeds), ".npz") if feeds else None})
    if reply.error is not None:
        raise reply.error
    prof = reply.result["profile"]
    prof["file"] = str(path)
    return prof
