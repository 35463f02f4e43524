"""Small Gaussian-mixture colour models, fitted per picture to seed pixels."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class ColourGMM:
    """A mixture of full-covariance Gaussians over per-pixel features (Lab colour, optionally texture), fitted by k-means."""

    means: np.ndarray  # K x D
    inv_covs: np.ndarray  # K x D x D
    log_norms: np.ndarray  # K, log weight - 0.5 log det

    @classmethod
    def fit(cls, lab_pixels: np.ndarray, k: int = 3, min_std: float = 4.0) -> "ColourGMM | None":
        """Fit to NxD samples; None when there are too few to say anything."""
        x = np.asarray(lab_pixels, dtype=np.float32)
        if x.ndim != 2 or len(x) < 20:
            return None
        if len(x) > 4000:
            # A fixed stride keeps the fit deterministic and cheap.
            x = x[:: len(x) // 4000 + 1]
        k = max(1, min(k, len(x) // 20))
        if k > 1:
            criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 10, 1.0)
            cv2.setRNGSeed(0)
            _, assign, _ = cv2.kmeans(x, k, None, criteria, 1, cv2.KMEANS_PP_CENTERS)
            assign = assign.ravel()
        else:
            assign = np.zeros(len(x), dtype=np.int32)
        means, covs, weights = [], [], []
        for j in range(k):
            xs = x[assign == j].astype(np.float64)
            if len(xs) < 5:
                continue
            covs.append(np.cov(xs.T) + np.eye(x.shape[1]) * min_std**2)
            means.append(xs.mean(axis=0))
            weights.append(len(xs) / len(x))
        if not means:
            return None
        cov_arr = np.array(covs)
        norms = np.log(np.array(weights)) - 0.5 * np.log(np.linalg.det(cov_arr))
        return cls(np.array(means, np.float32), np.linalg.inv(cov_arr).astype(np.float32), norms.astype(np.float32))

    def log_likelihood(self, lab_pixels: np.ndarray) -> np.ndarray:
        """Per-sample log density (up to a shared constant) of NxD samples."""
        x = np.asarray(lab_pixels, dtype=np.float32).reshape(-1, self.means.shape[1])
        best = np.full(len(x), -np.inf, dtype=np.float32)
        for mean, inv, norm in zip(self.means, self.inv_covs, self.log_norms):
            # Whitening with the Cholesky factor turns the quadratic form into three
            # squared columns, much faster in numpy than a row-wise reduction.
            chol = np.linalg.cholesky(inv.astype(np.float64)).astype(np.float32)
            y = (x - mean) @ chol
            m2 = y[:, 0] ** 2
            for j in range(1, y.shape[1]):
                m2 += y[:, j] ** 2
            # Max over components instead of log-sum-exp: same decisions, cheaper.
            np.maximum(best, norm - 0.5 * m2, out=best)
        return best
