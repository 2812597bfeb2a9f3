"""Device profiles: what a target can compute, move and hold. Pure Python (tomllib).

A profile is a TOML file:

    name = "raspberry-pi-4"                 # what users type
    title = "Raspberry Pi 4 Model B ..."
    kind = "sbc"                            # host | sbc | gpu | phone | mcu
    [compute]
    peak_gflops_fp32 = 96.0                 # required, > 0 and <= 1e9 (GFLOP/s)
    peak_gops_int8 = 192.0                  # optional, > 0 (int8 multiply-adds x 2, GOP/s)
    [memory]
    bandwidth_gbs = 12.8                    # required, > 0 (GB/s, 1e9 bytes)
    ram_bytes = 4_294_967_296               # required, integer >= 1: what activations may use
    storage_bytes = 32_000_000_000          # required, integer >= 1: where the weights live

Every number has its source in a comment in the file. PROFILE_SCHEMA checks all of this on
load (core/schema.py): a bad key is one line naming the file, the key and what it must be.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from edgekit.core import schema as S
from edgekit.core.errors import UsageError

KINDS = ("host", "sbc", "gpu", "phone", "mcu")


@dataclass(frozen=True)
class Profile:
    name: str
    title: str
    kind: str
    peak_gflops_fp32: float
    peak_gops_int8: float | None
    bandwidth_gbs: float
    ram_bytes: int
    storage_bytes: int
    path: Path
    aliases: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {"name": self.name, "title": self.title, "kind": self.kind,
                "aliases": list(self.aliases), "peak_gflops_fp32": self.peak_gflops_fp32,
                "peak_gops_int8": self.peak_gops_int8, "bandwidth_gbs": self.bandwidth_gbs,
                "ram_bytes": self.ram_bytes, "storage_bytes": self.storage_bytes,
                "path": str(self.path)}

    def peak_ops(self, dtype: str) -> float:
        """Peak arithmetic ops/s (2 per MAC) for activations of ``dtype``."""
        if dtype == "int8" and self.peak_gops_int8:
            return self.peak_gops_int8 * 1e9
        return self.peak_gflops_fp32 * 1e9


# The schema of a profile TOML (README: "Device profiles"); keys not named here (the
# [measured] table of a calibrated board, comments' tools) are kept as they are.
PROFILE_SCHEMA = S.Table({
    "name": S.Str(pattern=r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}",
                  what="a name of letters, digits, '.', '_' and '-'"),
    "title": S.Str(),
    "kind": S.Str(choices=KINDS),
    "aliases": S.Optional(S.ListOf(S.Str())),
    "compute": S.Table({
        "peak_gflops_fp32": S.Num(0, 1e9, "GFLOP/s", lo_open=True),
        "peak_gops_int8": S.Optional(S.Num(0, 1e9, "GOP/s", lo_open=True)),
    }),
    "memory": S.Table({
        "bandwidth_gbs": S.Num(0, 1e7, "GB/s", lo_open=True),
        "ram_bytes": S.Num(1, 2**64, "bytes", integer=True),
        "storage_bytes": S.Num(1, 2**64, "bytes", integer=True),
    }),
})


def load_profile(path: Path) -> Profile:
    # read by core.reading: registered as an input (no output of the command lands on it),
    # a regular file of at most 1 MiB
    data = S.load_toml(path, PROFILE_SCHEMA, "profile")
    c, m = data["compute"], data["memory"]
    return Profile(
        name=data["name"], title=data["title"], kind=data["kind"],
        peak_gflops_fp32=float(c["peak_gflops_fp32"]),
        peak_gops_int8=float(c["peak_gops_int8"]) if "peak_gops_int8" in c else None,
        bandwidth_gbs=float(m["bandwidth_gbs"]),
        ram_bytes=int(m["ram_bytes"]), storage_bytes=int(m["storage_bytes"]),
        path=Path(path), aliases=tuple(data.get("aliases", [])),
    )


def search_path() -> list[Path]:
    """Where profiles are looked for, later folders overriding earlier ones by name:
    the profiles shipped with edgekit, the user's (~/.config/edgekit/profiles, where
    'edgekit profiles calibrate' writes host.toml), and $EDGEKIT_PROFILES (files or
    folders: core.places)."""
    from edgekit.core.places import profile_sources

    return [shipped_dir(), user_dir(), *profile_sources()]


def shipped_dir() -> Path:
    """The profiles that ship inside the package (edgekit.profiles, package data)."""
    from importlib.resources import files

    return Path(str(files("edgekit.profiles")))


def user_dir() -> Path:
    from edgekit.core.places import config_dir

    return config_dir() / "profiles"


def all_profiles() -> dict[str, Profile]:
    found: dict[str, Profile] = {}
    for folder in search_path():
        files = sorted(folder.glob("*.toml")) if folder.is_dir() else \
            [folder] if folder.is_file() else []     # EDGEKIT_PROFILES may name a file
        for f in files:
            p = load_profile(f)
            found[p.name] = p
    return found


def get_profile(name: str) -> Profile:
    if name.endswith(".toml") or os.sep in name:
        return load_profile(Path(name))
    profiles = all_profiles()
    if name in profiles:  # a name beats an alias: a board calibrated as 'pi5' is that board
        return profiles[name]
    for p in profiles.values():
        if name in p.aliases:
            return p
    if name not in profiles:
        from edgekit.core.specs import suggest

        raise UsageError(f"unknown profile {name!r}{suggest(name, list(profiles))}; "
                         f"available: {', '.join(profiles)}")
    return profiles[name]


# ---- roofline and fit ---------------------------------------------------------------------

INTEGER_WEIGHTS = frozenset({"int8", "uint8", "int4", "uint4"})


def arithmetic_dtype(act_dtype: str, weight_dtype: str) -> str:
    """What a layer computes in: 'int8' where its weights or its activations are integers
    (full-integer and dynamic-range int8 both run integer GEMMs), else 'float32'. One rule
    for the roofline estimate and for bench's fraction of the peak."""
    return "int8" if {act_dtype, weight_dtype} & INTEGER_WEIGHTS else "float32"


def roofline(macs: int, bytes_moved: int, profile: Profile, dtype: str) -> dict:
    """Time of one layer on ``profile``: the larger of compute time and memory time."""
    compute_s = 2 * macs / profile.peak_ops(dtype)
    memory_s = bytes_moved / (profile.bandwidth_gbs * 1e9)
    return {"compute_s": compute_s, "memory_s": memory_s,
            "time_s": max(compute_s, memory_s),
            "bound": "compute" if compute_s >= memory_s else "memory"}


def fit(weight_bytes: int, peak_activation_bytes: int, profile: Profile) -> dict:
    flash_ok = weight_bytes <= profile.storage_bytes
    ram_ok = peak_activation_bytes <= profile.ram_bytes
    return {"weights_bytes": weight_bytes, "storage_bytes": profile.storage_bytes,
            "weights_fit": flash_ok,
            "peak_activation_bytes": peak_activation_bytes, "ram_bytes": profile.ram_bytes,
            "activations_fit": ram_ok, "fits": flash_ok and ram_ok}


def machine_kind(fp: dict) -> str:
    """The profile kind of a measured machine, from its fingerprint: an x86 machine, a
    Mac or an Arm server (Neoverse, Ampere: no board in a devicetree) is a 'host'; a
    Jetson is a 'gpu'; Android is a 'phone'; another Arm machine whose devicetree names a
    board (a Raspberry Pi, a Rock 5) is an 'sbc'; any other, a 'host'."""
    from edgekit.core.cpuinfo import SERVER_CORES

    machine = (fp.get("machine") or "").lower()
    board = (fp.get("board") or "").lower()
    cores = set((fp.get("core") or "").split(" + "))
    if "android" in " ".join(str(fp.get(k) or "") for k in ("os", "kernel", "system")
                              ).lower():
        return "phone"
    if machine in ("x86_64", "amd64", "i386", "i686") or fp.get("system") == "Darwin":
        return "host"
    if "jetson" in board:
        return "gpu"
    if cores & SERVER_CORES:
        return "host"
    return "sbc" if board else "host"


def host_peak_gmacs() -> dict[str, float | None] | None:
    """The calibrated host profile's peaks in GMAC/s (ops/s / 2), {'float32': ...,
    'int8': ...} (int8 None where the profile has none), if there is a host profile."""
    try:
        host = all_profiles().get("host")
    except UsageError:
        return None
    if not host:
        return None
    return {"float32": host.peak_gflops_fp32 / 2,
            "int8": host.peak_gops_int8 / 2 if host.peak_gops_int8 else None}


def peak_seconds(macs: int, int8_macs: int, peaks: dict[str, float | None]) -> float | None:
    """The time the model's arithmetic takes at the calibrated peaks (GMAC/s): its MACs in
    layers with integer weights (run as integer GEMMs: full-integer and dynamic-range
    int8) at the int8 peak, the others at the fp32 peak. None where a peak it needs is
    unknown. Measured time over this is never below 1 for a runtime that cannot beat its
    own peaks: '% of peak' = this / measured."""
    need = {"float32": macs - int8_macs, "int8": int8_macs}
    if any(n and not peaks.get(k) for k, n in need.items()):
        return None
    return sum(n / (peaks[k] * 1e9) for k, n in need.items() if n)


def estimate(report, profile: Profile) -> dict:
    """Roofline estimate of every layer of a Report on ``profile`` and the fit verdict.

    Bytes moved by a layer: its input and output activations, and its weights at the
    report's activation dtype when one is asked for (--dtype int8), else as stored. Views
    move nothing. Any element type counts at its size (an int64 token input included).
    """
    from edgekit.core.counting import ELEMENT_BITS, tensor_bytes

    def weights(r) -> int:
        dtype = report.act_dtype or r.weight_dtype
        return tensor_bytes(r.params, dtype if dtype in ELEMENT_BITS else "float32")

    by_name = {r.name: r for r in report.layers}
    layers = []
    for r in report.layers:
        if r.alias:
            layers.append({"name": r.name, "time_s": 0.0, "compute_s": 0.0, "memory_s": 0.0,
                           "bound": "-"})
            continue
        moved = report.activation_bytes(r) + weights(r) + sum(
            report.activation_bytes(by_name[i]) for i in r.inputs if i in by_name)
        est = roofline(r.macs * report.multiplier, moved, profile, arithmetic_dtype(
            report.dtype_of(r), report.act_dtype or r.weight_dtype))
        layers.append({"name": r.name, **est})
    totals = report.totals()
    weight_bytes = sum(weights(r) for r in report.layers)
    return {
        "profile": profile.name, "title": profile.title,
        "time_s": sum(x["time_s"] for x in layers),
        "compute_bound_layers": sum(x["bound"] == "compute" for x in layers),
        "memory_bound_layers": sum(x["bound"] == "memory" for x in layers),
        "layers": layers,
        "fit": fit(weight_bytes, totals["peak_activation_bytes"], profile),
    }
