"""Experiment tracking (MLflow) for the training stages."""
