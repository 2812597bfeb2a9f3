"""Per-op profiles of .tflite files by isolation (each op cut out and timed alone in
LiteRT, :mod:`edgekit.runtimes.isolate`), here or on a device: what ``profile`` of a
TFLite model and ``profile --lut`` (the latency table) both measure."""

from __future__ import annotations

from pathlib import Path

from edgekit.core.errors import EdgekitError


def isolate_files(jobs: list[tuple[Path, list[int] | None, bool]], threads: int | None,
                  xnnpack: bool, method, device=None,
                  notify=lambda m: None) -> tuple[list[tuple[int, dict]], dict,
                                                  EdgekitError | None]:
    """Per-op profiles by isolation of .tflite files, here or on a ``device``: ``jobs`` are
    (file, op positions or None for all, time the whole model too); ``device``: a name,
    an ssh:// URL or a core.devices.Device. Returns the
    (job index, profile) of every job finished, where it ran (the ``environment`` and,
    on a device, ``device`` blocks), and the error that stopped a device run early."""
    if device is None:
        from edgekit.runtimes.env import fingerprint
        from edgekit.runtimes.isolate import profile
        from edgekit.runtimes.measure import pinned

        done = []
        with pinned(method.cores):
            for n, (path, positions, whole) in enumerate(jobs):
                done.append((n, profile(path, threads=threads, xnnpack=xnnpack,
                                        method=method, positions=positions, whole=whole,
                                        notify=lambda m, p=path: notify(f"{p.name}: {m}"))))
        return done, {"environment": fingerprint()}, None
    from edgekit.services.remote import device_block, session

    with session(device, notify) as board:
        board.require("litert")
        remote = board.ship(list(dict.fromkeys(p for p, _, _ in jobs)))
        reply = board.call({"op": "isolate", "threads": threads, "xnnpack": xnnpack,
                            "method": method.to_dict(),
                            "jobs": [{"file": remote[p], "label": p.name, "positions": pos,
                                      "whole": whole} for p, pos, whole in jobs]})
        where = {"environment": board.hello["fingerprint"], "device": device_block(board)}
    done = []
    for row in reply.rows:
        prof = row["profile"]
        prof["file"] = str(jobs[row["job"]][0])
        done.append((row["job"], prof))
    if not done and reply.error is not None:
        raise reply.error
    return done, where, reply.error
