"""Find the clothes on a person photo and the shading they carry, with MediaPipe.

Selfie segmentation gives the person; pose gives the shoulders (and wrists,
when visible); the face mesh gives the face. The garment is the part of the
person below the chin whose colour matches the fabric sampled just below the
shoulders, with badges and name tags inside it filled in. Its luminance,
cleaned of those badges and normalised, is the fabric shading that a new
garment colour is multiplied by.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace

import cv2
import numpy as np

from pipeline.binary_mask import fill_holes
from pipeline.log import get_logger
from pipeline.native_logs import quiet_native_logs

log = get_logger(__name__)

Point = tuple[float, float]

# MediaPipe's graphs are not safe to run from several threads at once.
_MP_LOCK = threading.Lock()


class GarmentRegionError(RuntimeError):
    """The photo has no clearly visible person whose clothes can be found."""


@dataclass(frozen=True)
class PhotoAnalysis:
    """A base photo with the masks and landmarks needed to re-dress it.

    Arrays share the photo's ``HxW``; points are ``(x, y)`` pixels.
    ``shoulders`` is ordered by x (image-left first).
    """

    image: np.ndarray  # uint8 RGB
    person: np.ndarray  # float32 0..1
    garment: np.ndarray  # float32 0..1, soft edge
    shading: np.ndarray  # float32, 1.0 = median fabric brightness
    shoulders: tuple[Point, Point]
    face_box: tuple[float, float, float, float]  # x0, y0, x1, y1

    @property
    def shoulder_width(self) -> float:
        """Distance between the shoulder joints in pixels."""
        (x0, y0), (x1, y1) = self.shoulders
        return float(np.hypot(x1 - x0, y1 - y0))

    def flipped(self) -> "PhotoAnalysis":
        """The same analysis for the horizontally mirrored photo."""
        w = self.image.shape[1]
        (ax, ay), (bx, by) = self.shoulders
        x0, y0, x1, y1 = self.face_box
        return replace(
            self,
            image=np.ascontiguousarray(self.image[:, ::-1]),
            person=np.ascontiguousarray(self.person[:, ::-1]),
            garment=np.ascontiguousarray(self.garment[:, ::-1]),
            shading=np.ascontiguousarray(self.shading[:, ::-1]),
            shoulders=((w - 1 - bx, by), (w - 1 - ax, ay)),
            face_box=(w - 1 - x1, y0, w - 1 - x0, y1),
        )


def _landmarks(image: np.ndarray) -> tuple[np.ndarray, list[tuple[Point, float]], np.ndarray]:
    """Person mask, pose landmarks (point, visibility) and face-mesh points of ``image``."""
    import mediapipe as mp  # heavy import, only when a photo is analysed

    h, w = image.shape[:2]
    rgb = np.ascontiguousarray(image)
    with _MP_LOCK, quiet_native_logs():
        with mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0) as seg:
            person = seg.process(rgb).segmentation_mask
        with mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1) as pose:
            pose_res = pose.process(rgb)
        with mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1) as mesh:
            face_res = mesh.process(rgb)
    if person is None or float(np.mean(person > 0.5)) < 0.05:
        raise GarmentRegionError("no person found by selfie segmentation")
    if pose_res.pose_landmarks is None:
        raise GarmentRegionError("no body pose found")
    if not face_res.multi_face_landmarks:
        raise GarmentRegionError("no face found")
    pose_pts = [((lm.x * w, lm.y * h), lm.visibility) for lm in pose_res.pose_landmarks.landmark]
    face = np.array([[lm.x * w, lm.y * h] for lm in face_res.multi_face_landmarks[0].landmark], dtype=np.float32)
    return np.clip(person, 0.0, 1.0).astype(np.float32), pose_pts, face


def analyse_photo(image: np.ndarray) -> PhotoAnalysis:
    """Locate the worn garment of the single person in ``image`` (``HxWx3`` uint8 RGB)."""
    h, w = image.shape[:2]
    person, pose, face = _landmarks(image)
    (l_sh, l_vis), (r_sh, r_vis) = pose[11], pose[12]
    if min(l_vis, r_vis) < 0.5:
        raise GarmentRegionError(f"shoulders not clearly visible (visibility {l_vis:.2f}, {r_vis:.2f})")
    shoulders = tuple(sorted((l_sh, r_sh)))
    sw = float(np.hypot(shoulders[1][0] - shoulders[0][0], shoulders[1][1] - shoulders[0][1]))
    fx0, fy0 = face.min(axis=0)
    fx1, fy1 = face.max(axis=0)
    chin_y = float(face[152, 1])

    lab = cv2.cvtColor(image.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    # Fabric reference: patches just below and inside each shoulder.
    patch = max(int(0.05 * sw), 3)
    samples = []
    for (sx, sy), inward in ((shoulders[0], 1.0), (shoulders[1], -1.0)):
        cx = int(np.clip(sx + inward * 0.18 * sw, patch, w - patch - 1))
        cy = int(np.clip(sy + 0.3 * sw, patch, h - patch - 1))
        block = lab[cy - patch : cy + patch, cx - patch : cx + patch].reshape(-1, 3)
        keep = person[cy - patch : cy + patch, cx - patch : cx + patch].reshape(-1) > 0.5
        samples.append(block[keep])
    ref_pixels = np.concatenate(samples)
    if len(ref_pixels) < 10:
        raise GarmentRegionError("no clothing found below the shoulders")
    ref = np.median(ref_pixels, axis=0)
    chroma = float(np.hypot(ref[1], ref[2]))
    # Lightness gets a small weight: folds change it, the dye does not.
    diff = lab - ref
    dist = np.sqrt(0.15 * diff[..., 0] ** 2 + diff[..., 1] ** 2 + diff[..., 2] ** 2)
    threshold = max(14.0, 0.35 * chroma)

    keep_out = np.zeros((h, w), np.uint8)
    hull = cv2.convexHull(face.astype(np.int32))
    cv2.fillConvexPoly(keep_out, hull, 1)
    grow = max(int(0.08 * (fy1 - fy0)), 1)
    keep_out = cv2.dilate(keep_out, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1)))
    keep_out[: int(chin_y)] = 1
    for idx in (15, 16):  # wrists: hands stay as they are
        (wx, wy), vis = pose[idx]
        if vis >= 0.3:
            cv2.circle(keep_out, (int(wx), int(wy)), int(0.12 * sw), 1, -1)

    matches = (dist < threshold) & (person > 0.5)
    cand = (matches & (keep_out == 0)).astype(np.uint8)
    k_small = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
    k_close = max(int(0.07 * sw) | 1, 3)
    cand = cv2.morphologyEx(cand, cv2.MORPH_OPEN, k_small)
    cand = cv2.morphologyEx(cand, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k_close, k_close)))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(cand, connectivity=8)
    if n <= 1:
        raise GarmentRegionError("no clothing region found")
    # Keep the pieces of fabric big enough to matter (both lapels of a jacket, say).
    big = [i for i in range(1, n) if stats[i, cv2.CC_STAT_AREA] >= 0.02 * sw * sw]
    region = np.isin(labels, big).astype(np.uint8)
    filled = fill_holes(region) & (person > 0.3) & (keep_out == 0)
    filled = filled.astype(np.uint8)
    if filled.sum() < 0.1 * sw * sw:
        raise GarmentRegionError("clothing region too small")

    # Shading: fabric lightness with badges and tags painted out, lightly smoothed.
    light = np.clip(lab[..., 0] * 2.55, 0, 255).astype(np.uint8)
    # Grown a little so the JPEG halo around a badge is painted out with it.
    holes = ((filled > 0) & ~matches).astype(np.uint8)
    holes = cv2.dilate(holes, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7))) & filled
    if holes.any():
        # Inpainting at half size: the fill is smooth anyway and it is 4x cheaper.
        small = cv2.resize(light, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
        small_holes = cv2.resize(holes, (w // 2, h // 2), interpolation=cv2.INTER_NEAREST)
        small_holes = cv2.dilate(small_holes, np.ones((3, 3), np.uint8))
        painted = cv2.resize(cv2.inpaint(small, small_holes, 3, cv2.INPAINT_TELEA), (w, h), interpolation=cv2.INTER_LINEAR)
        light = np.where(holes > 0, painted, light)
    # Edge-preserving smoothing keeps folds but not the JPEG noise of dark cloth.
    light = cv2.bilateralFilter(light, 9, 18, max(0.01 * sw, 2.0))
    light_f = cv2.GaussianBlur(light.astype(np.float32), (0, 0), sigmaX=max(0.003 * sw, 0.8)) + 2.0
    log_light = np.log(light_f / float(np.median(light_f[filled > 0])))
    # Dark, grainy cloth swings far more than the dye would: compress it to a
    # typical fabric contrast (inter-quartile spread of about 0.16 in log space).
    q25, q75 = np.percentile(log_light[filled > 0], [25, 75])
    gamma = float(np.clip(0.16 / max(q75 - q25, 1e-3), 0.35, 1.0))
    shading = np.clip(np.exp(gamma * log_light), 0.45, 1.5).astype(np.float32)

    # Grow out to the silhouette, where the old colour would otherwise leave a dark
    # rim; past it the person mask hands over to the new backdrop anyway.
    # Only outwards: collars, faces and hands next to the garment keep their colour.
    near_outside = cv2.dilate((person < 0.5).astype(np.uint8), np.ones((9, 9), np.uint8))
    grown = cv2.dilate(filled, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7)))
    grown = grown & near_outside & (person > 0.05) & (keep_out == 0)
    soft = cv2.GaussianBlur((filled | grown).astype(np.float32), (0, 0), sigmaX=1.0)
    log.debug("garment region", pixels=int(filled.sum()), threshold=round(threshold, 1), holes=int(holes.sum()), gamma=round(gamma, 2))
    return PhotoAnalysis(
        image=image,
        person=person,
        garment=soft.astype(np.float32),
        shading=shading,
        shoulders=(shoulders[0], shoulders[1]),
        face_box=(float(fx0), float(fy0), float(fx1), float(fy1)),
    )
