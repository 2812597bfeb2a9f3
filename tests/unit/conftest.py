"""Fixtures that several unit test files share."""

import pytest

from edgekit.core.inputs import forget_inputs


@pytest.fixture
def fresh_inputs():
    """The inputs of the command a test stands for are its own: none known before it, none
    left after it (the CLI forgets them when a command starts)."""
    forget_inputs()
    yield
    forget_inputs()
