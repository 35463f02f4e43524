"""Evaluation of the trained try-on models: paired SSIM/PSNR/LPIPS, unpaired FID/KID, baselines."""

from pipeline.evaluate.config import EvaluateConfig
from pipeline.evaluate.run import EvaluateOutputs, evaluate, flat_metrics

__all__ = ["EvaluateConfig", "EvaluateOutputs", "evaluate", "flat_metrics"]
