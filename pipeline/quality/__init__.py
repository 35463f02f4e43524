"""Annotation quality: metrics (PCK, IoU) and label-set mappings for comparing against reference annotations."""
