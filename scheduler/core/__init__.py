"""The decision core: configuration, the framework's scheduling cycle, plugins and cluster state
as plain data. No cluster I/O happens here (an import-linter contract enforces it): state in,
decision out, so `simulate`, the unit tests and the running scheduler share one code path."""
