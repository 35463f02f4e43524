"""Per-image paired metrics (SSIM, PSNR, LPIPS) on the whole picture and inside the garment region."""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torchmetrics.functional.image import structural_similarity_index_measure

from pipeline.evaluate.reference_nets import LPIPSNet

PAIRED_METRICS = ("ssim", "psnr", "lpips", "garment_ssim", "garment_psnr", "garment_lpips")
_MIN_MSE = 1e-10  # identical images: PSNR capped at 100 dB rather than infinity


def _psnr(sq_err: Tensor, weight: Tensor) -> Tensor:
    """PSNR per image of squared errors ``[B, C, H, W]`` averaged with ``weight`` ``[B, 1 or C, H, W]``."""
    # A one-channel weight must count once per channel, or the mean error comes out C times too big.
    weight = weight.expand_as(sq_err)
    mse = (sq_err * weight).sum(dim=(1, 2, 3)) / weight.sum(dim=(1, 2, 3)).clamp_min(1e-12)
    return 10 * torch.log10(1.0 / mse.clamp_min(_MIN_MSE))


@torch.no_grad()
def paired_metrics(pred: Tensor, target: Tensor, region: Tensor, lpips: LPIPSNet | None) -> dict[str, list[float | None]]:
    """Metrics per image of ``pred`` vs ``target`` ([B, 3, H, W] in [-1, 1]); ``region`` [B, 1, H, W] in {0, 1}.

    Garment-region variants: SSIM and PSNR are averaged over the region's pixels only (the SSIM map
    is computed on the whole picture, so the region's context counts, as in the published
    evaluations); LPIPS compares ``pred`` pasted into ``target`` outside the region with ``target``,
    so only the region can differ. A pair with an empty region gets None there; LPIPS is None
    without its network.
    """
    p, t = (pred.float().clamp(-1, 1) + 1) / 2, (target.float().clamp(-1, 1) + 1) / 2
    region = region.float()
    ssim, ssim_map = structural_similarity_index_measure(p, t, data_range=1.0, reduction="none", return_full_image=True)
    sq = (p - t) ** 2
    ones = torch.ones_like(sq)
    area = region.sum(dim=(1, 2, 3))
    g_ssim = (ssim_map * region).sum(dim=(1, 2, 3)) / (area * ssim_map.shape[1]).clamp_min(1e-12)
    out: dict[str, list[float | None]] = {
        "ssim": ssim.tolist(),
        "psnr": _psnr(sq, ones).tolist(),
        "garment_ssim": [v if a > 0 else None for v, a in zip(g_ssim.tolist(), area.tolist())],
        "garment_psnr": [v if a > 0 else None for v, a in zip(_psnr(sq, region).tolist(), area.tolist())],
    }
    if lpips is None:
        out["lpips"] = out["garment_lpips"] = [None] * len(pred)
    else:
        lpips = lpips.to(pred.device)
        pasted = pred * region + target * (1 - region)
        out["lpips"] = lpips(pred.clamp(-1, 1), target).tolist()
        out["garment_lpips"] = [v if a > 0 else None for v, a in zip(lpips(pasted.clamp(-1, 1), target).tolist(), area.tolist())]
    return out


def mean_or_none(values: list[float | None]) -> float | None:
    """Mean of the finite values, None when there are none."""
    vals = [v for v in values if v is not None and math.isfinite(v)]
    return round(sum(vals) / len(vals), 6) if vals else None
