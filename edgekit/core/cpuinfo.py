"""What an Arm (or x86) CPU is, from Linux's /proc/cpuinfo: the cores named from their
MIDR fields ('CPU implementer' and 'CPU part', the same on every Arm Linux kernel), the
board from the devicetree's model string, and the Raspberry Pi firmware's throttling
flags in words. Pure functions of text, so that they run on a board (this module travels
with the runtime layer) and are tested here on generated cpuinfo files.

Sources for the part numbers: Arm's Technical Reference Manuals (MIDR_EL1 PartNum) and
Linux's arch/arm64/include/asm/cputype.h. A part not in the table is named by its
implementer and number ('Arm part 0xd8f'), never guessed.
"""

from __future__ import annotations

IMPLEMENTERS = {0x41: "Arm", 0x42: "Broadcom", 0x43: "Cavium", 0x46: "Fujitsu",
                0x48: "HiSilicon", 0x4E: "NVIDIA", 0x50: "Applied Micro", 0x51: "Qualcomm",
                0x53: "Samsung", 0x61: "Apple", 0x6D: "Microsoft", 0xC0: "Ampere"}

PARTS = {
    (0x41, 0xD01): "Cortex-A32", (0x41, 0xD03): "Cortex-A53", (0x41, 0xD04): "Cortex-A35",
    (0x41, 0xD05): "Cortex-A55", (0x41, 0xD07): "Cortex-A57", (0x41, 0xD08): "Cortex-A72",
    (0x41, 0xD09): "Cortex-A73", (0x41, 0xD0A): "Cortex-A75", (0x41, 0xD0B): "Cortex-A76",
    (0x41, 0xD0C): "Neoverse-N1", (0x41, 0xD0D): "Cortex-A77", (0x41, 0xD0E): "Cortex-A76AE",
    (0x41, 0xD40): "Neoverse-V1", (0x41, 0xD41): "Cortex-A78", (0x41, 0xD42): "Cortex-A78AE",
    (0x41, 0xD44): "Cortex-X1", (0x41, 0xD46): "Cortex-A510", (0x41, 0xD47): "Cortex-A710",
    (0x41, 0xD48): "Cortex-X2", (0x41, 0xD49): "Neoverse-N2", (0x41, 0xD4A): "Neoverse-E1",
    (0x41, 0xD4B): "Cortex-A78C", (0x41, 0xD4D): "Cortex-A715", (0x41, 0xD4E): "Cortex-X3",
    (0x41, 0xD4F): "Neoverse-V2", (0x41, 0xD80): "Cortex-A520", (0x41, 0xD81): "Cortex-A720",
    (0x41, 0xD82): "Cortex-X4",
    (0x4E, 0x004): "Carmel",
    (0x51, 0x800): "Kryo 2xx Gold", (0x51, 0x801): "Kryo 2xx Silver",
    (0x51, 0x802): "Kryo 3xx Gold", (0x51, 0x803): "Kryo 3xx Silver",
    (0x51, 0x804): "Kryo 4xx Gold", (0x51, 0x805): "Kryo 4xx Silver",
    (0x51, 0xC00): "Falkor", (0x51, 0x001): "Oryon",
    (0x61, 0x022): "M1 Icestorm", (0x61, 0x023): "M1 Firestorm",
    (0x61, 0x024): "M1 Pro Icestorm", (0x61, 0x025): "M1 Pro Firestorm",
    (0x61, 0x028): "M1 Max Icestorm", (0x61, 0x029): "M1 Max Firestorm",
    (0x61, 0x032): "M2 Blizzard", (0x61, 0x033): "M2 Avalanche",
    (0xC0, 0xAC3): "AmpereOne",
}

# cores that servers and workstations are built from, not boards
SERVER_CORES = {"Neoverse-N1", "Neoverse-N2", "Neoverse-V1", "Neoverse-V2", "Neoverse-E1",
                "Falkor", "AmpereOne"}

# Raspberry Pi firmware, 'vcgencmd get_throttled': bit -> what it means
THROTTLE_BITS = {0: "under-voltage", 1: "frequency capped", 2: "throttled",
                 3: "soft temperature limit"}


def _int(text: str) -> int | None:
    try:
        return int(text.strip(), 0)   # not user text: /proc and /sys
    except ValueError:
        return None


def parse(text: str) -> tuple[list[dict[str, str]], dict[str, str]]:
    """(one {key: value} per 'processor' block, the keys outside them), keys lowercased.
    Blocks are separated by blank lines; a kernel that prints the board's lines (Model,
    Hardware, Revision, Serial) after the cores puts them in a block without 'processor'."""
    blocks: list[dict[str, str]] = []
    rest: dict[str, str] = {}
    current: dict[str, str] = {}
    for line in text.splitlines() + [""]:
        if not line.strip():
            if current:
                (blocks.append(current) if "processor" in current
                 else rest.update(current))
                current = {}
            continue
        key, sep, value = line.partition(":")
        if sep:
            current.setdefault(key.strip().lower(), value.strip())
    return blocks, rest


def core_name(implementer: int, part: int) -> str:
    if (implementer, part) in PARTS:
        return PARTS[(implementer, part)]
    who = IMPLEMENTERS.get(implementer, f"implementer {implementer:#04x}")
    return f"{who} part {part:#05x}"


def cores(text: str) -> list[str]:
    """The name of each core that the file lists with MIDR fields, in its order."""
    blocks, _ = parse(text)
    found = []
    for b in blocks:
        impl, part = _int(b.get("cpu implementer", "")), _int(b.get("cpu part", ""))
        if impl is not None and part is not None:
            found.append(core_name(impl, part))
    return found


def summary(names: list[str]) -> str | None:
    """'4x Cortex-A76', '4x Cortex-A78 + 4x Cortex-A55' (in order of first appearance)."""
    if not names:
        return None
    counts = {n: names.count(n) for n in dict.fromkeys(names)}
    return " + ".join(f"{c}x {n}" for n, c in counts.items())


def describe(text: str, devicetree_model: str | None = None) -> dict:
    """{'cpu': a person's name for the CPU, 'core': the core kinds ('Cortex-A76', or
    'Cortex-A78 + Cortex-A55'), 'board': the board's model} from a cpuinfo text and the
    devicetree's model string (None where the machine has none)."""
    blocks, rest = parse(text)
    first = blocks[0] if blocks else {}
    names = cores(text)
    board = (devicetree_model or "").replace("\0", "").strip() or rest.get("model") or None
    if names:
        cpu = summary(names)
    else:       # x86 'model name'; older Arm kernels' 'Processor' or 'Hardware'
        cpu = next((v for v in (first.get("model name"), rest.get("model name"),
                                first.get("processor") if not first.get(
                                    "processor", "0").isdigit() else None,
                                rest.get("processor"), rest.get("hardware"))
                    if v), None)
    return {"cpu": cpu, "core": " + ".join(dict.fromkeys(names)) or None, "board": board}


def throttle_words(flags: str | None) -> str | None:
    """'vcgencmd get_throttled' flags in words: 'none since boot', or what is happening
    now and what has happened since boot ('under-voltage now; throttled since boot')."""
    value = _int(flags) if flags is not None else None
    if value is None:
        return None
    if value == 0:
        return "none since boot"
    now = [w for b, w in THROTTLE_BITS.items() if value >> b & 1]
    before = [w for b, w in THROTTLE_BITS.items() if value >> (b + 16) & 1]
    parts = ([f"{', '.join(now)} now"] if now else []) + (
        [f"{', '.join(before)} since boot"] if before else [])
    other = value & ~0xF000F
    if other:
        parts.append(f"other flags {other:#x}")
    return "; ".join(parts)
