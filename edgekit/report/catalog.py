"""Render the zoo catalogue and the device profiles (lists of core objects)."""

from __future__ import annotations

from edgekit.core.records import SCHEMA_VERSION
from edgekit.core.units import nbytes


def models_json(entries) -> dict:
    return {"schema": SCHEMA_VERSION, "models": [
        {"name": e.name, "family": e.family, "paper": e.paper, "summary": e.summary,
         "knobs": {k.name: k.default for k in e.knobs}} for e in entries]}


def render_models(entries, console) -> None:
    from edgekit.report.user_text import text_table

    table = text_table(None, console)
    table.add_column("name", no_wrap=True)
    table.add_column("knobs (default)")
    table.add_column("family, paper")
    for e in entries:
        knobs = "  ".join(  # plain spaces: a copied '--alpha 1.0' pastes as it reads
            k.flag if k.kind is bool
            else f"{k.flag} {k.default if k.default is not None else '-'}"
            for k in e.knobs)
        table.add_row(e.name, knobs, f"{e.family}: {e.paper.split(',')[0]}")
    console.print(table)


def profiles_json(profiles) -> dict:
    return {"schema": SCHEMA_VERSION, "profiles": [p.to_dict() for p in profiles]}


def render_profiles(profiles: dict, console) -> None:
    from edgekit.report.user_text import text_table

    table = text_table(None, console)
    for c in ("name", "kind", "GFLOP/s fp32", "GOP/s int8", "GB/s", "RAM", "storage"):
        table.add_column(c, justify="left" if c in ("name", "kind") else "right")
    for p in profiles.values():
        table.add_row(p.name, p.kind, f"{p.peak_gflops_fp32:g}",
                      f"{p.peak_gops_int8:g}" if p.peak_gops_int8 else "-",
                      f"{p.bandwidth_gbs:g}", nbytes(p.ram_bytes), nbytes(p.storage_bytes))
    console.print(table)
    if "host" not in profiles:
        console.print("[dim]no host profile yet: 'edgekit profiles calibrate' measures this "
                      "machine[/dim]")


def render_profile_file(profile, text: str, console) -> None:
    from edgekit.report.user_text import esc, marked, styled

    console.print(marked(f"[bold]{esc(profile.name)}[/bold]: {esc(profile.title)}  "
                         f"({esc(profile.path)})"))
    console.print(styled(text), highlight=False)
