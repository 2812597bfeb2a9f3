"""Every numeric option of every command, found in the Typer app itself (not listed by
hand, so an option added later is tried too): NaN, ±infinity and negatives exit 2 with one
`edgekit: error:` line naming the option, before any work (in-process, milliseconds)."""

import pytest

from edgekit.cli.main import cli_command


def numeric_options():
    found = []

    def walk(command, path):
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, [*path, name])
        for param in command.params:
            annotation = getattr(getattr(param, "type_descriptor", None), "annotation", None)
            if annotation in (int, float) and not getattr(param, "is_flag", False) \
                    and param.opts:
                found.append((tuple(path), max(param.opts, key=len)))

    walk(cli_command(), [])
    return found


OPTIONS = numeric_options()


def test_the_walk_finds_the_numeric_options():
    flags = {f for _, f in OPTIONS}
    assert {"--max-latency", "--cooldown", "--time-budget", "--min-agreement", "--runs",
            "--alpha", "--batch", "--workers", "--top"} <= flags
    assert len(OPTIONS) >= 40


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "-1", "-0.5"])
@pytest.mark.parametrize("command, flag", OPTIONS, ids=[" ".join([*c, f]) for c, f in OPTIONS])
def test_a_bad_number_is_one_line_naming_the_option(cli, tmp_path, monkeypatch, command,
                                                    flag, value):
    monkeypatch.chdir(tmp_path)
    r = cli(*command, f"{flag}={value}")
    assert r.code == 2, (r.out, r.err)
    errors = [line for line in r.err_lines if line.startswith("edgekit: error:")]
    assert len(r.err_lines) == 1 and len(errors) == 1, r.err
    assert f"{flag} {value}" in r.err and "must be" in r.err, r.err
    assert list(tmp_path.iterdir()) == []
