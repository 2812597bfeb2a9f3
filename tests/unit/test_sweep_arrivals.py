"""How the sweep waits on its Ray tasks (services.sweep_ray._arrivals), without Ray: a
stand-in for Ray runs generated scripts, one per config — a result, an error returned as
data, a worker that dies before or after saying where it runs, a task that ends without a
result, a task that never runs on a cluster without CPUs — arriving in a generated order.
Whatever happens, every config comes out exactly once, as a result or as a failure that
names the node the task said it ran on (or says it is not known)."""

from hypothesis import given, settings
from hypothesis import strategies as st

import edgekit.services.sweep_ray as R


class Died(Exception):
    pass


class FakeRay:
    class exceptions:
        RayError = Died

    def __init__(self, cpus: int):
        self.cpus = cpus

    def wait(self, handles, num_returns=1, timeout=None):
        ready = [h for h in handles if h.ready()]
        for h in handles:
            h.waited += 1
        return ready[:num_returns], [h for h in handles if h not in ready[:num_returns]]

    def get(self, value):
        if isinstance(value, Task):         # not streaming: the task's ref, its one value
            value = value.events[-1]
        if isinstance(value, Exception):
            raise value
        return value

    def cluster_resources(self):
        return {"CPU": self.cpus}


class Task:
    """A streaming task's generator (or, not streaming, its one result) per a script."""

    def __init__(self, cid: str, script: list[str], delay: int, streaming: bool):
        self.cid, self.delay, self.waited, self.streaming = cid, delay, 0, streaming
        node = {"node": f"node-{cid}"}
        values = {"node": node, "row": {"node": node["node"], "row": {"id": cid}},
                  "error": {"node": node["node"], "error": "bad data"},
                  "crash": Died(f"worker of {cid} died")}
        self.never = script == ["never"]
        self.events = [] if self.never else [values[e] for e in script]

    def ready(self) -> bool:
        return not self.never and self.waited >= self.delay

    def __next__(self):
        if not self.events:
            raise StopIteration
        return self.events.pop(0)

    def __hash__(self):
        return id(self)


SCRIPTS = {True: [["node", "row"], ["node", "error"], ["node", "crash"], ["crash"], ["node"]],
           False: [["row"], ["error"], ["crash"]]}


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_every_config_comes_out_once_naming_its_node(data):
    streaming = data.draw(st.booleans())
    cpus = data.draw(st.sampled_from([0, 2]))
    n = data.draw(st.integers(1, 6))
    scripts = data.draw(st.lists(st.sampled_from(SCRIPTS[streaming] + (
        [["never"]] if cpus == 0 else [])), min_size=n, max_size=n))
    delays = data.draw(st.lists(st.integers(0, 0 if cpus == 0 else 4), min_size=n, max_size=n))
    ray = FakeRay(cpus)
    tasks = [Task(f"c{i}", s, d, streaming)
             for i, (s, d) in enumerate(zip(scripts, delays, strict=True))]
    pending = {t: {"id": t.cid} for t in tasks}
    failed = []
    old = R.NO_CPU_GRACE_S
    R.NO_CPU_GRACE_S = -1
    try:
        out = list(R._arrivals(ray, pending, lambda c, where, why: failed.append(
            (c["id"], where, why)), streaming))
    finally:
        R.NO_CPU_GRACE_S = old
    seen = [c["id"] for c, _ in out] + [f[0] for f in failed]
    assert sorted(seen) == sorted(t.cid for t in tasks)            # each exactly once
    for c, result in out:
        script = scripts[int(c["id"][1:])]
        assert script[-1] in ("row", "error", "crash") or script == ["node"]
        if "row" in result:
            assert result["row"] == {"id": c["id"]} and script[-1] == "row"
        else:
            assert "error" in result
            said = script[-1] == "error" or ("node" in script and streaming)
            assert result["node"] == (f"node-{c['id']}" if said else "a Ray worker")
            if script[-1] == "crash":
                assert result["error"].startswith("Died: worker of")
            elif script == ["node"]:
                assert result["error"] == "the task ended without a result"
    for cid, where, why in failed:      # only the tasks that never ran, for want of a CPU
        assert scripts[int(cid[1:])] == ["never"] and cpus == 0
        assert where == "the Ray cluster" and "no node with a CPU" in why

