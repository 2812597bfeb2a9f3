"""Receiving a Ray node's file (services.sweep_ray.receive) and bounded connecting, without
a cluster: generated contents, whatever this machine already holds at the node's path or in
its own cache, and a transfer that arrives whole or damaged. The property: the row that
comes back names, for every needed file, a file here whose sha256 is the row's; a file here
that is not the node's is never used, never changed; a damaged or missing transfer is one
line."""

import hashlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgekit.core.errors import EdgekitError
from edgekit.services.sweep_ray import RECEIVED, _host_port, probe, receive, received_path
from edgekit.services.sweep_store import is_the_file

HERE = st.sampled_from(["absent", "same", "other-same-size", "other-size"])


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(min_size=1, max_size=2048), here=HERE, cached=HERE,
       damaged=st.booleans(), sent=st.booleans(), other_byte=st.integers(0, 255))
def test_a_received_file_is_the_rows_file(tmp_path_factory, monkeypatch, data, here, cached,
                                          damaged, sent, other_byte):
    tmp = tmp_path_factory.mktemp("recv")
    monkeypatch.setenv("EDGEKIT_CACHE", str(tmp / "cache"))
    node_path = tmp / "node-cache" / "m_int8.tflite"        # the path the node reported
    entry = {"path": str(node_path), "bytes": len(data),
             "sha256": hashlib.sha256(data).hexdigest(), "node": "node-b"}
    row = {"id": "c1", "node": "node-b", "files": {"litert": dict(entry)}}

    def other(n):       # a file that is not the node's (same size or not)
        flipped = bytes([(data[0] + 1 + other_byte % 255) % 256]) + data[1:]
        return flipped if n == "other-same-size" else data + b"x"

    before = {}
    for where, state in ((node_path, here), (received_path(entry), cached)):
        if state != "absent":
            where.parent.mkdir(parents=True, exist_ok=True)
            where.write_bytes(data if state == "same" else other(state))
            before[where] = where.read_bytes()
    blob = bytes([data[0] ^ 1]) + data[1:] if damaged else data
    notes = []
    try:
        got = receive(row, {"litert": blob} if sent else {}, ["litert"], notes.append)
    except EdgekitError as e:
        assert here != "same" and "\n" not in str(e)
        assert ("did not arrive whole" if sent else "is not here as built") in str(e)
        assert damaged or not sent
    else:
        f = got["files"]["litert"]
        assert f["node"] is None and is_the_file(f["path"], entry)
        assert f["sha256"] == entry["sha256"] and row["files"]["litert"]["node"] == "node-b"
        if here == "same":
            assert f["path"] == str(node_path)      # one machine or a shared file system
        else:
            assert f["path"] == str(received_path(entry)) and RECEIVED in f["path"]
            assert sent and not damaged
        assert bool(notes) == (here in ("other-same-size", "other-size"))
    if here != "absent":        # what was at the node's path here is left as it was
        assert node_path.read_bytes() == before[node_path]


@pytest.mark.parametrize("address, expected", [
    ("127.0.0.1:1", ("127.0.0.1", 1)), ("ray://head:10001", ("head", 10001)),
    ("[::1]:6379", ("::1", 6379)), ("auto", None), ("head", None)])
def test_host_port(address, expected):
    assert _host_port(address) == expected


def test_nothing_listening_is_one_line_at_once():
    import socket

    with socket.socket() as s:      # a port that was free a moment ago: refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(EdgekitError, match=rf"cannot reach Ray at 127.0.0.1:{port}: .*"
                       "refused.*ray start --head"):
        probe(f"127.0.0.1:{port}")


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(min_size=1, max_size=512), change=st.sampled_from(
    ["none", "flip", "append", "remove"]))
def test_a_cached_file_is_used_only_as_its_manifest_names_it(tmp_path_factory, data, change):
    """The build reads each cached export through the one check (size and sha256 against
    the cache entry's manifest): a file changed behind edgekit's back is named, never
    carried under the manifest's hash."""
    import json

    from edgekit.services.sweep_build import _artifacts

    folder = tmp_path_factory.mktemp("entry")
    path = folder / "m_int8.tflite"
    manifest = {"artifacts": [{"file": path.name, "format": "tflite", "quant": "int8",
                               "bytes": len(data),
                               "sha256": hashlib.sha256(data).hexdigest()}],
                "validation": {"samples": 4}}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    stored = {"none": data, "flip": bytes([data[0] ^ 0x55]) + data[1:],
              "append": data + b"\0", "remove": None}[change]
    if stored is not None:
        path.write_bytes(stored)
    try:
        arts, samples = _artifacts({"litert": path}, "int8")
    except EdgekitError as e:
        assert change != "none" and str(path) in str(e) and "remove" in str(e)
    else:
        assert change == "none" and samples == 4
        assert arts["litert"]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
