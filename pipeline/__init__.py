"""Vesaki-VTON: a virtual try-on data and training pipeline.

The library takes typed arguments (dataclasses) and never reads params.yaml;
the thin entry points in ``stages/`` do that.
"""

__version__ = "0.1.0"
