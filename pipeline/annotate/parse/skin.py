"""A per-person skin colour model (sampled from the face) and the neck recovery built on it."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from pipeline.annotate.parse.labels import BACKGROUND, FACE, NECK

# Chroma spread below which a face sample is treated as unreliably uniform (JPEG
# blocks, flat lighting); without a floor the threshold would reject the person's
# own arms under a slightly different light.
_MIN_CHROMA_STD = 3.0
# Generic skin in YCrCb (Cr, Cb) used when there is no face to sample; the classic
# Chai & Ngan box, expressed as a Gaussian.
_DEFAULT_MEAN = np.array([150.0, 112.0])
_DEFAULT_COV = np.array([[80.0, -30.0], [-30.0, 80.0]])


# A face sample whose chroma sits this close to neutral (YCrCb units) comes from a
# grey-scale photo: no real skin is that grey in colour pictures, even under JPEG.
_ACHROMATIC_CHROMA = 4.0
# Spread floor of the luma model used on grey-scale photos; shading across a face
# alone spans a few tens of levels.
_MIN_LUMA_STD = 8.0
_CHROMA = (1, 2)
_LUMA = (0,)
# Skin is never near-neutral in a colour photo: a pixel whose chroma lies within this distance
# (YCrCb units) of grey is white, grey or black cloth, whatever the model's spread. On 600
# viton256/train photos 0.5 % of the authors' skin pixels and 59 % of their garment pixels lie
# this close. Without the floor the generic model (no face to sample: a model cut at the chin)
# took white shorts and white stripes for skin.
_MIN_SKIN_CHROMA = 8.0


def is_achromatic(rgb_pixels: np.ndarray) -> bool:
    """True when (nearly) every pixel is neutral grey: a grey-scale photo stored as RGB."""
    px = np.asarray(rgb_pixels, dtype=np.uint8).reshape(-1, 1, 3)
    if len(px) == 0:
        return False
    ycc = cv2.cvtColor(px, cv2.COLOR_RGB2YCrCb).reshape(-1, 3).astype(np.int16)
    off = np.abs(ycc[:, 1:] - 128).max(axis=1)
    return bool(np.quantile(off, 0.95) <= _ACHROMATIC_CHROMA)


@dataclass(frozen=True)
class SkinModel:
    """Gaussian over (Cr, Cb) chroma plus a luma band; distances are Mahalanobis units.

    Fitted to a grey-scale photo's face there is no chroma to model, and every grey
    pixel would look like skin; the model then is a Gaussian over luma instead
    (``channels`` = (0,)), which keeps skin apart from dark hair and white shirts.
    """

    mean: np.ndarray
    inv_cov: np.ndarray
    luma_median: float
    channels: tuple[int, ...] = _CHROMA

    @classmethod
    def fit(cls, rgb_pixels: np.ndarray) -> "SkinModel":
        """Fit to Nx3 RGB samples; outliers (eyes, brows, lips) are trimmed by a robust pass."""
        px = np.asarray(rgb_pixels, dtype=np.uint8).reshape(-1, 1, 3)
        if len(px) < 30:
            return cls.default()
        ycc = cv2.cvtColor(px, cv2.COLOR_RGB2YCrCb).reshape(-1, 3).astype(np.float64)
        if is_achromatic(px):
            luma = ycc[:, 0]
            med = np.median(luma)
            keep = np.abs(luma - med) <= np.quantile(np.abs(luma - med), 0.8)
            std = max(float(luma[keep].std()), _MIN_LUMA_STD)
            return cls(mean=np.array([luma[keep].mean()]), inv_cov=np.array([[1.0 / std**2]]),
                       luma_median=float(med), channels=_LUMA)
        chroma = ycc[:, 1:]
        med = np.median(chroma, axis=0)
        dev = np.abs(chroma - med).sum(axis=1)
        keep = dev <= np.quantile(dev, 0.8)
        chroma, luma = chroma[keep], ycc[keep, 0]
        cov = np.cov(chroma.T) + np.eye(2) * _MIN_CHROMA_STD**2
        return cls(mean=chroma.mean(axis=0), inv_cov=np.linalg.inv(cov), luma_median=float(np.median(luma)))

    @classmethod
    def default(cls) -> "SkinModel":
        """The generic model for pictures without a usable face."""
        return cls(mean=_DEFAULT_MEAN, inv_cov=np.linalg.inv(_DEFAULT_COV), luma_median=150.0)

    def distance(self, rgb: np.ndarray) -> np.ndarray:
        """Mahalanobis distance of each pixel to the model; with chroma, very dark pixels get +inf."""
        ycc = cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb).astype(np.float32)
        ic = self.inv_cov.astype(np.float32)
        if self.channels == _LUMA:
            return np.abs(ycc[..., 0] - np.float32(self.mean[0])) * np.sqrt(ic[0, 0])
        d = ycc[..., 1:] - self.mean.astype(np.float32)
        m2 = d[..., 0] ** 2 * ic[0, 0] + 2 * d[..., 0] * d[..., 1] * ic[0, 1] + d[..., 1] ** 2 * ic[1, 1]
        dist = np.sqrt(np.maximum(m2, 0))
        # Shadowed skin keeps its chroma but dark hair and black cloth have noisy chroma
        # that can land on skin; a luma floor relative to the face separates them.
        dist[ycc[..., 0] < 0.35 * self.luma_median] = np.inf
        dist[np.hypot(ycc[..., 1] - 128, ycc[..., 2] - 128) < _MIN_SKIN_CHROMA] = np.inf
        return dist


def fill_neck(labels: np.ndarray, rgb: np.ndarray, threshold: float = 3.0) -> np.ndarray:
    """Label as neck (10) the face-coloured background pixels hanging under the face.

    LIP and ATR parsers leave the neck as background; VITON-HD's maps, and the agnostic
    masks built from them, need it as its own class.
    """
    face = labels == FACE
    if face.sum() < 50:
        return labels
    ys, xs = np.nonzero(face)
    y0, y1, x0, x1 = ys.min(), ys.max(), xs.min(), xs.max()
    fh, fw = y1 - y0 + 1, x1 - x0 + 1
    h, w = labels.shape
    top, bottom = int((y0 + y1) / 2), min(h, int(y1 + 0.8 * fh))
    left, right = max(0, int(x0 - 0.1 * fw)), min(w, int(x1 + 0.1 * fw))
    model = SkinModel.fit(rgb[face])
    region = np.zeros_like(face)
    region[top:bottom, left:right] = True
    cand = region & (labels == BACKGROUND) & (model.distance(rgb) < threshold)
    if not cand.any():
        return labels
    n, comp = cv2.connectedComponents(cand.astype(np.uint8), connectivity=8)
    touching = np.unique(comp[cv2.dilate(face.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0])
    neck = np.isin(comp, touching[touching > 0])
    out = labels.copy()
    out[neck] = NECK
    return out
