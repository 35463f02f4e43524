"""Thin-plate-spline sampling grids from offsets of a fixed lattice of control points.

Convention: control points and grids live in ``grid_sample``'s normalised frame with
``align_corners=True`` (-1 and 1 are the centres of the corner pixels), so a lattice
with zero offsets yields exactly the identity grid at any size, and a grid computed at a
low resolution upsamples bilinearly (``align_corners=True``) without drift.

The spline maps *output* (person) coordinates to *input* (cloth) coordinates: control
point ``k`` of the lattice, in the output image, samples the cloth at ``lattice[k] + offset[k]``.

Both kornia TPS helpers were tried and set aside: ``get_tps_transform`` solves the linear
system with ``torch.linalg.solve`` on every call (no ONNX operator exists for it) and builds
its kernel matrix from both point sets, so here it would depend on the predicted offsets;
``warp_points_tps`` recomputes the radial basis of every grid point on every call (a third of
a small GMM training step on CPU), although grid and control points never change. With the
control points fixed on a lattice, the whole spline is one constant matrix: the grid is
``basis @ (lattice + offsets)``, computed once at construction, linear in the offsets,
differentiable and exportable. The tests check it against kornia's ``warp_points_tps``.
"""

from __future__ import annotations

import torch
from kornia.geometry import create_meshgrid
from torch import Tensor, nn


def lattice(grid_size: int) -> Tensor:
    """``[G*G, 2]`` control points (x, y) evenly spaced on [-1, 1], row-major (y outer, x inner)."""
    axis = torch.linspace(-1.0, 1.0, grid_size, dtype=torch.float64)
    ys, xs = torch.meshgrid(axis, axis, indexing="ij")
    return torch.stack([xs.reshape(-1), ys.reshape(-1)], dim=-1)


def _tps_kernel(sq_dist: Tensor) -> Tensor:
    # Same radial basis as kornia's warp_points_tps: U(r) = r^2 log r = 0.5 r^2 log r^2, U(0) = 0.
    return torch.where(sq_dist > 0, 0.5 * sq_dist * torch.log(sq_dist.clamp_min(1e-300)), torch.zeros_like(sq_dist))


def tps_system_inverse(points: Tensor) -> Tensor:
    """Inverse of the ``(N+3)x(N+3)`` TPS interpolation matrix ``[[K, P], [P^T, 0]]`` for fixed ``points`` [N, 2]."""
    n = points.shape[0]
    k = _tps_kernel(torch.cdist(points, points).square())
    p = torch.cat([torch.ones(n, 1, dtype=points.dtype), points], dim=1)
    system = torch.zeros(n + 3, n + 3, dtype=points.dtype)
    system[:n, :n], system[:n, n:], system[n:, :n] = k, p, p.T
    return torch.linalg.inv(system)


class TPSGridGen(nn.Module):
    """Turn ``[B, G*G, 2]`` control-point offsets into a ``[B, H, W, 2]`` sampling grid at ``size``."""

    def __init__(self, grid_size: int, size: tuple[int, int]) -> None:
        super().__init__()
        if grid_size < 2:
            raise ValueError(f"grid_size must be at least 2, got {grid_size}")
        points = lattice(grid_size)
        n = points.shape[0]
        coords = create_meshgrid(size[0], size[1], normalized_coordinates=True, align_corners=True)
        coords = coords.reshape(-1, 2).double()
        # f(v) = sum_i w_i U(|v - c_i|) + a0 + a1 x + a2 y with [w; a] = L^-1 [targets; 0], so the grid is
        # [U(v, c), 1, x, y] @ L^-1[:, :N] @ targets: one [H*W, N] matrix.
        design = torch.cat([_tps_kernel(torch.cdist(coords, points).square()), torch.ones(len(coords), 1), coords], 1)
        basis = design @ tps_system_inverse(points)[:, :n]
        self.size = tuple(size)
        self.register_buffer("ctrl", points.float().unsqueeze(0), persistent=False)
        self.register_buffer("basis", basis.float(), persistent=False)

    def forward(self, offsets: Tensor) -> Tensor:
        points = torch.matmul(self.basis, self.ctrl + offsets)  # [B, H*W, 2]
        return points.reshape(offsets.shape[0], self.size[0], self.size[1], 2)
