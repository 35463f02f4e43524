"""Score try-on at full size (VITON-HD's 1024x768) from a model trained at 256x192: today's upscale against
the full-resolution paths of :mod:`pipeline.infer.fullres`, through the real inference engine.

For each paired sample (a person wearing the garment of the pair) of a VITON-HD-layout folder the
engine annotates, warps and renders once; every system then finishes the same model outputs:

* ``upscale``: the model-size rendering upsampled into the try-on region (``full_resolution: false``);
* ``paste`` and ``detail``: the garment sampled at full size through the upsampled grid (``fullres.Detail``);
* ``agnostic``: the try-on region painted grey; ``mean_colour``: the region filled with the garment's mean colour.

Printed per system (means over pairs; the sharpness as a median): whole-image and garment-region SSIM,
PSNR and LPIPS (AlexNet) at full size, the garment region being the ground-truth parse's upper
clothes, dress and coat (CIHP 5, 6, 7); ``sharp``: the variance of the Laplacian inside that region
eroded 4 px, as a fraction of the ground truth's (the goal: 0.7 to 1.5), with how many pairs fall in
that band; ``sharp_inner``: the same inside that region and the try-on's own garment (its warped mask),
eroded 4 px, so that an outline a few pixels off the photo's counts as misplaced, not as texture; ``zone_ssim``: SSIM inside the try-on region minus the worn garment (skin, neck,
backdrop: where a pale halo would show). Then the engine's seconds per try-on for ``upscale`` and
``detail`` (median of ``--timing-pairs`` runs each), and grids: photo | upscale | detail | ground
truth, with a 1:1 crop of the chest below each row.

  python benchmarks/bench_fullres.py ../shared/data/vitonhd_train16 --model /tmp/bench_viton/data/train_tom/model
  python benchmarks/bench_fullres.py DATA --model M --persons ../shared/data/persons --garments ../shared/data/garments
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from PIL import Image
from torchmetrics.functional.image import structural_similarity_index_measure

from pipeline.augment.letterbox import letterbox
from pipeline.evaluate.paired import paired_metrics
from pipeline.evaluate.reference_nets import load_lpips
from pipeline.infer.engine import TryOnEngine, _map_back
from pipeline.infer.types import EngineConfig, TryOnError

GARMENT_LABELS = (5, 6, 7)  # CIHP upper clothes, dress, coat
ERODE_PX = 4
SYSTEMS = ("upscale", "paste", "detail", "agnostic", "mean_colour")
CROP = 256  # side of the 1:1 chest crop in the grid


def _tensor(rgb: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(rgb.astype(np.float32) / 127.5 - 1.0).permute(2, 0, 1)[None]


def _laplacian_var(rgb: np.ndarray, zone: np.ndarray) -> float:
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
    return float(cv2.Laplacian(grey, cv2.CV_32F, ksize=3)[zone].var())


def _variants(engine: TryOnEngine) -> dict[str, TryOnEngine]:
    """The same loaded models and annotator, finished three ways."""
    base = engine.config
    cfgs = {
        "upscale": EngineConfig(**{**base.__dict__, "full_resolution": False}),
        "paste": EngineConfig(**{**base.__dict__, "full_resolution": True, "detail": "paste"}),
        "detail": EngineConfig(**{**base.__dict__, "full_resolution": True, "detail": "detail"}),
    }
    return {name: TryOnEngine(cfg, engine.models, engine.annotator) for name, cfg in cfgs.items()}


def _region(pair: Any, wh: tuple[int, int]) -> np.ndarray:
    """The try-on region (where the models draw) at the photo's size."""
    mask = (pair.keep_mask.astype(np.uint8) * 255)
    return _map_back(mask, pair.annotate_size, wh, cv2.INTER_NEAREST) > 127


def _baselines(pair: Any, photo: np.ndarray, region: np.ndarray) -> dict[str, np.ndarray]:
    work = pair.annotate_size
    cloth = letterbox(pair.garment_rgb, (work[1], work[0]), "white")
    inside = pair.garment_mask > 127
    mean = cloth[inside].mean(axis=0) if inside.any() else np.full(3, 128.0)
    grey, flat = photo.copy(), photo.copy()
    grey[region] = 128
    flat[region] = np.round(mean).astype(np.uint8)
    return {"agnostic": grey, "mean_colour": flat}


def _crop_box(garment: np.ndarray) -> tuple[int, int]:
    """Top-left of a CROP x CROP window on the chest: the garment's centre column, a third down its height."""
    ys, xs = np.nonzero(garment)
    h, w = garment.shape
    if len(ys) == 0:
        return max(0, h // 3 - CROP // 2), max(0, w // 2 - CROP // 2)
    cy = int(ys.min() + 0.35 * (ys.max() - ys.min()))
    cx = int(xs.mean())
    return int(np.clip(cy - CROP // 2, 0, h - CROP)), int(np.clip(cx - CROP // 2, 0, w - CROP))


def _grid_row(images: list[np.ndarray], chest: tuple[int, int], thumb_h: int = 512) -> np.ndarray:
    """Thumbnails side by side, and below them the 1:1 chest crops of every image but the first."""
    thumbs = [cv2.resize(im, (round(im.shape[1] * thumb_h / im.shape[0]), thumb_h), interpolation=cv2.INTER_AREA) for im in images]
    top = np.concatenate([np.pad(t, ((0, 0), (0, 4), (0, 0)), constant_values=255) for t in thumbs], axis=1)
    y, x = chest
    crops = [im[y:y + CROP, x:x + CROP] for im in images[1:]]
    bottom = np.concatenate([np.pad(c, ((0, 4), (0, 4), (0, 0)), constant_values=255) for c in crops], axis=1)
    canvas = np.full((top.shape[0] + bottom.shape[0] + 4, max(top.shape[1], bottom.shape[1]), 3), 255, np.uint8)
    canvas[:top.shape[0], :top.shape[1]] = top
    canvas[top.shape[0] + 4:, :bottom.shape[1]] = bottom
    return canvas


def _stack(rows: list[np.ndarray]) -> Image.Image:
    width = max(r.shape[1] for r in rows)
    padded = [np.pad(r, ((0, 8), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    return Image.fromarray(np.concatenate(padded, axis=0))


def score_pairs(engine: TryOnEngine, root: Path, out: Path, limit: int | None) -> dict[str, Any]:
    """Every system's figures on the paired samples of ``root`` (image, cloth, image-parse-v3)."""
    lpips, why = load_lpips("alex", "")
    if lpips is None:
        raise SystemExit(f"LPIPS unavailable: {why}")
    variants = _variants(engine)
    names = sorted(p.stem for p in (root / "image").glob("*.jpg"))[:limit]
    rows: dict[str, list[dict[str, float | None]]] = {s: [] for s in SYSTEMS}
    grid_rows = []
    for name in names:
        photo_img = Image.open(root / "image" / f"{name}.jpg").convert("RGB")
        photo = np.asarray(photo_img)
        labels = np.asarray(Image.open(root / "image-parse-v3" / f"{name}.png"))
        worn = np.isin(labels, GARMENT_LABELS)
        eroded = cv2.erode(worn.astype(np.uint8), np.ones((2 * ERODE_PX + 1,) * 2, np.uint8)) > 0
        try:
            pair = engine.prepare(photo_img, Image.open(root / "cloth" / f"{name}.jpg"), "upper_body")
        except TryOnError as exc:
            print(f"{name}: skipped ({exc.reason})")
            continue
        run = engine.run_models(pair.person.unsqueeze(0), pair.cloth.unsqueeze(0)).item(0)
        region = _region(pair, photo_img.size)
        finished = {s: v.finish(pair, run) for s, v in variants.items()}
        images = {s: np.asarray(r.image) for s, r in finished.items()}
        ours = np.asarray(finished["detail"].mask) > 127
        inner = cv2.erode((worn & ours).astype(np.uint8), np.ones((2 * ERODE_PX + 1,) * 2, np.uint8)) > 0
        images.update(_baselines(pair, photo, region))
        gt = _tensor(photo)
        gt_sharp = _laplacian_var(photo, eroded)
        zone = torch.from_numpy(region & ~worn)[None, None].float()
        for s in SYSTEMS:
            pred = _tensor(images[s])
            m = {k: v[0] for k, v in paired_metrics(pred, gt, torch.from_numpy(worn)[None, None].float(), lpips).items()}
            _, ssim_map = structural_similarity_index_measure((pred + 1) / 2, (gt + 1) / 2, data_range=1.0,
                                                              reduction="none", return_full_image=True)
            m["zone_ssim"] = float((ssim_map * zone).sum() / (3 * zone.sum()).clamp_min(1)) if zone.sum() > 0 else None
            m["sharp"] = _laplacian_var(images[s], eroded) / gt_sharp if gt_sharp > 0 and eroded.any() else None
            inner_gt = _laplacian_var(photo, inner) if inner.any() else 0.0
            m["sharp_inner"] = _laplacian_var(images[s], inner) / inner_gt if inner_gt > 0 else None
            rows[s].append(m)
        grid_rows.append(_grid_row([photo, images["upscale"], images["detail"], photo], _crop_box(eroded)))
        print(f"{name}: sharp upscale {rows['upscale'][-1]['sharp']:.2f} detail {rows['detail'][-1]['sharp']:.2f}, "
              f"garment LPIPS {rows['upscale'][-1]['garment_lpips']:.3f} -> {rows['detail'][-1]['garment_lpips']:.3f}")
    if grid_rows:
        out.mkdir(parents=True, exist_ok=True)
        for k in range(0, len(grid_rows), 4):
            _stack(grid_rows[k:k + 4]).save(out / f"paired_{k // 4:02d}.png")
    summary: dict[str, Any] = {}
    for s in SYSTEMS:
        keys = ("ssim", "psnr", "lpips", "garment_ssim", "garment_psnr", "garment_lpips", "zone_ssim")
        summary[s] = {k: _mean([r[k] for r in rows[s]]) for k in keys}
        for key in ("sharp", "sharp_inner"):
            sharp = [r[key] for r in rows[s] if r[key] is not None]
            summary[s][f"{key}_median"] = round(statistics.median(sharp), 3) if sharp else None
            summary[s][f"{key}_in_band"] = f"{sum(0.7 <= v <= 1.5 for v in sharp)}/{len(sharp)}"
            summary[s][f"{key}_values"] = [round(v, 2) for v in sharp]
    return {"pairs": len(rows["upscale"]), "systems": summary}


def _mean(values: list[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return round(float(np.mean(vals)), 4) if vals else None


def timing(engine: TryOnEngine, root: Path, pairs: int) -> dict[str, Any]:
    """Median seconds of a whole ``tryon`` (annotation included) per path, interleaved so load hits both alike."""
    variants = _variants(engine)
    names = sorted(p.stem for p in (root / "image").glob("*.jpg"))[:pairs]
    inputs = [(Image.open(root / "image" / f"{n}.jpg").convert("RGB"), Image.open(root / "cloth" / f"{n}.jpg").convert("RGB")) for n in names]
    variants["upscale"].tryon(*inputs[0], "upper_body")  # warm-up
    seconds: dict[str, list[float]] = {"upscale": [], "detail": []}
    compose: dict[str, list[float]] = {"upscale": [], "detail": []}
    for person, garment in inputs:
        for s in seconds:
            t0 = time.perf_counter()
            res = variants[s].tryon(person, garment, "upper_body")
            seconds[s].append(time.perf_counter() - t0)
            compose[s].append(res.timings["compose"])
    return {s: {"tryon_s": round(statistics.median(v), 3), "compose_s": round(statistics.median(compose[s]), 3)}
            for s, v in seconds.items()}


def real_photos(engine: TryOnEngine, persons: Path, garments: Path, out: Path, count: int) -> None:
    """Grids (photo | garment | upscale | detail, chest crops below) for real photos with upper-body garments."""
    variants = _variants(engine)
    people = sorted(p for p in persons.iterdir() if p.suffix.lower() in (".jpg", ".png"))
    shots = sorted(p for p in garments.iterdir() if p.name.endswith("_00.jpg"))  # VITON-HD shots: upper body
    rows = []
    for k, (person, garment) in enumerate(zip(people, shots[::-1])):
        if k >= count:
            break
        try:
            p_img, g_img = Image.open(person).convert("RGB"), Image.open(garment).convert("RGB")
            pair = engine.prepare(p_img, g_img, "upper_body")
        except TryOnError as exc:
            print(f"{person.name} + {garment.name}: skipped ({exc.reason})")
            continue
        run = engine.run_models(pair.person.unsqueeze(0), pair.cloth.unsqueeze(0)).item(0)
        detail = variants["detail"].finish(pair, run)
        up, det = np.asarray(variants["upscale"].finish(pair, run).image), np.asarray(detail.image)
        mask = np.asarray(detail.mask) > 127
        shot = letterbox(np.asarray(g_img), (up.shape[1], up.shape[0]), "white")
        rows.append(_grid_row([np.asarray(p_img), shot, up, det], _crop_box(mask))[:, :])
    if rows:
        out.mkdir(parents=True, exist_ok=True)
        for k in range(0, len(rows), 4):
            _stack(rows[k:k + 4]).save(out / f"real_{k // 4:02d}.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", type=Path, help="VITON-HD-layout folder: image/, cloth/, image-parse-v3/")
    parser.add_argument("--model", required=True, help="a model folder (data/train_tom/model of a run) or models:/ URI")
    parser.add_argument("--gmm-model", default="")
    parser.add_argument("--out", type=Path, default=Path("/tmp/bench_fullres"), help="where the grids go")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--timing-pairs", type=int, default=5)
    parser.add_argument("--persons", type=Path, default=None, help="real person photos for extra grids")
    parser.add_argument("--garments", type=Path, default=None)
    parser.add_argument("--real-count", type=int, default=8)
    args = parser.parse_args()
    with TryOnEngine.load(EngineConfig(model=args.model, gmm_model=args.gmm_model, device="cpu")) as engine:
        result = score_pairs(engine, args.data, args.out, args.limit)
        print(f"\n{result['pairs']} pairs at full size, model {engine.models.metadata.get('tom')} trained at {list(engine.size)}")
        head = f"{'system':12s} {'ssim':>7s} {'psnr':>7s} {'lpips':>7s} {'g_ssim':>7s} {'g_psnr':>7s} {'g_lpips':>7s} {'zone_ssim':>9s} {'sharp':>6s} {'in band':>8s} {'inner':>6s} {'in band':>8s}"
        print(head)
        for s, v in result["systems"].items():
            f = lambda x: f"{x:7.4f}" if x is not None else f"{'-':>7s}"  # noqa: E731
            g = lambda x: f"{x:6.2f}" if x is not None else f"{'-':>6s}"  # noqa: E731
            print(f"{s:12s} {f(v['ssim'])} {f(v['psnr'])} {f(v['lpips'])} {f(v['garment_ssim'])} {f(v['garment_psnr'])} "
                  f"{f(v['garment_lpips'])} {f(v['zone_ssim']):>9s} {g(v['sharp_median'])} {v['sharp_in_band']:>8s} "
                  f"{g(v['sharp_inner_median'])} {v['sharp_inner_in_band']:>8s}")
        result["timing"] = timing(engine, args.data, args.timing_pairs)
        print("seconds per vton tryon (photo 768x1024, annotation included):", json.dumps(result["timing"]))
        if args.persons and args.garments:
            real_photos(engine, args.persons, args.garments, args.out, args.real_count)
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "result.json").write_text(json.dumps(result, indent=1))
        print(f"grids and result.json in {args.out}")


if __name__ == "__main__":
    main()
