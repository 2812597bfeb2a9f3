"""Render the device list and a device check."""

from __future__ import annotations

from pathlib import Path


def render_devices(devices: dict, path: Path, console) -> None:
    from edgekit.report.user_text import styled, text_table

    if not devices:
        console.print(styled(f"no devices yet ({path}); add one: edgekit devices add pi5 "
                             "ssh://pi@raspberrypi.local"), soft_wrap=True)
        return
    table = text_table(f"devices ({path})", console)
    for c in ("name", "url", "python", "ssh options", "profile"):
        table.add_column(c, overflow="fold")
    for d in devices.values():
        table.add_row(d.name, d.url, d.python, " ".join(d.ssh_options) or "-",
                      d.profile or "-")
    console.print(table)


def _mhz(values) -> str:
    if not values:
        return "-"
    return f"{min(values):.0f}" if min(values) == max(values) else \
        f"{min(values):.0f}-{max(values):.0f}"


def fingerprint_lines(fp: dict) -> list[tuple[str, str]]:
    """(what, value) pairs of a fingerprint, as a person reads them."""
    from edgekit.core.cpuinfo import throttle_words

    versions = ", ".join(f"{k} {v}" for k, v in fp.get("versions", {}).items())
    return [
        ("host", f"{fp['hostname']} ({fp['machine']}, {fp['os']}, kernel {fp['kernel']})"),
        *([("board", fp["board"])] if fp.get("board") else []),
        ("cpu", f"{fp['cpu']}, {fp['usable_cores']} of {fp['cores']} cores usable"),
        ("memory", f"{fp['ram_bytes'] / 2**30:.1f} GiB" if fp.get("ram_bytes") else "-"),
        ("frequency", f"governor {fp.get('governor') or '-'}, now {_mhz(fp.get('freq_mhz'))}"
         f" MHz, max {fp.get('max_freq_mhz') or '-'} MHz"),
        ("temperature", f"{fp['temperature_c']:.1f} °C" if fp.get("temperature_c")
         is not None else "no sensor"),
        ("throttling", f"{throttle_words(fp['throttled'])} ({fp['throttled']})"
         if fp.get("throttled") else "not reported (no vcgencmd)"),
        ("python", f"{fp['python']}; {versions}"),
    ]


def render_check(data: dict, console) -> None:
    from edgekit.report.user_text import esc, marked, styled

    dev = data["device"]
    rt = dev["runtimes"]
    console.print(marked(f"[bold]{esc(dev['name'])}[/bold] ({esc(dev['url'])}): reachable, "
                         f"runtime layer {esc(dev['code'])} in place"), soft_wrap=True)
    for what, value in fingerprint_lines(dev["fingerprint"]):
        console.print(styled(f"  {what:<12} {value}"), soft_wrap=True)
    broken = rt.get("problems", {})
    console.print(styled(f"  {'litert':<12} " + (
        f"unusable: it {broken['litert']}" if "litert" in broken
        else rt['litert'] or 'missing: pip install ai-edge-litert')), soft_wrap=True)
    console.print(styled(f"  {'onnxruntime':<12} " + (
        f"unusable: it {broken['onnxruntime']}" if "onnxruntime" in broken
        else f"{rt['onnxruntime']}, providers: {', '.join(rt['providers'])}"
        if rt["onnxruntime"] else "missing: pip install onnxruntime")), soft_wrap=True)
    s = dev["session"]
    console.print(f"  {'session':<12} {s['session_s']:.2f} s to connect, probe, copy and "
                  f"start (connect {s['connect_s']:.2f} s)")
