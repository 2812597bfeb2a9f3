"""edgekit: build, analyze, export and benchmark CNNs for edge devices."""

__version__ = "0.1.0"
