"""Run a model file in its runtime. Imports only numpy, the runtime and edgekit.core, so
that this package can be copied to a device where edgekit is not installed."""
