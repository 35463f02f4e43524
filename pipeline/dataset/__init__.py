"""The VITON-HD data-set layout: paths, assembly from stage outputs, and validation."""
