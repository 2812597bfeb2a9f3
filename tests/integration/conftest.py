import pytest

from edgekit import services

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def keras():
    from edgekit._tf import keras

    return keras


def zoo_report(name, batch=1, dtype="float32", **knobs):
    return services.analyze(services.resolve_target(name, knobs), batch=batch, dtype=dtype)
