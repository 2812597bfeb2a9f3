import pytest

from edgekit.services.analyze import analyze
from edgekit.services.targets import resolve_target

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def keras():
    from edgekit._tf import keras

    return keras


def zoo_report(name, batch=1, dtype="float32", **knobs):
    return analyze(resolve_target(name, knobs), batch=batch, dtype=dtype)
