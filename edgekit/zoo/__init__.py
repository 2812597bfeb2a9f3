"""The model zoo. ``registry`` is pure Python; the family modules import Keras."""
