"""A sweep store append that the disk cuts short leaves no cut line (issue 31): the write
fails part-way (the kernel's file size limit, RLIMIT_FSIZE, stands in for a full disk: the
same short write, then an error), the command says so in one line, and the store holds
exactly its whole lines as before; the next append, with room again, is read back whole.
A line that is valid JSON with an empty result is not a finished stage."""

import json
import subprocess
import sys

SCRIPT = r"""
import json, resource, signal, sys
from pathlib import Path
from edgekit.core.errors import EdgekitError
from edgekit.services.sweep_store import Store

folder = Path(sys.argv[1])
store = Store(folder)
store.add("time", "k1", {"runtime": "litert", "p50_ms": 1.0, "p90_ms": 2.0})
size = store.path.stat().st_size
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)      # the write fails with EFBIG instead
resource.setrlimit(resource.RLIMIT_FSIZE, (size + 40, resource.RLIM_INFINITY))
try:
    store.add("time", "k2", {"runtime": "litert", "p50_ms": 3.0, "p90_ms": 4.0,
                             "note": "x" * 200})
    print("no error")
except EdgekitError as e:
    print("error:", e)
resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
print(size, store.path.stat().st_size)
Store(folder).add("time", "k3", {"runtime": "litert", "p50_ms": 5.0, "p90_ms": 6.0})
"""


def test_a_cut_append_leaves_the_store_whole(tmp_path):
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    said, sizes = done.stdout.splitlines()[:2]
    assert said.startswith("error: cannot write") and "sweep.jsonl" in said, said
    before, after = map(int, sizes.split())
    assert before == after                      # nothing of the cut line is left
    text = (tmp_path / "sweep.jsonl").read_text()
    assert text.endswith("\n")
    assert [json.loads(line)["key"] for line in text.splitlines()] == ["k1", "k3"]


def test_an_empty_result_is_not_a_finished_stage(tmp_path):
    from edgekit.services.sweep_store import Store

    (tmp_path / "sweep.jsonl").write_text(
        json.dumps({"stage": "time", "key": "k", "result": {}}) + "\n"
        + json.dumps({"stage": "build", "key": "b", "result": {}}) + "\n")
    store = Store(tmp_path)
    assert store.get("time", "k") is None and store.get("build", "b") is None
    assert store.skipped == 2
