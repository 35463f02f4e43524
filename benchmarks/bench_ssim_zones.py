"""Where a try-on wins or loses whole-image SSIM: the SSIM map split into zones, for the model and the baselines.

    python benchmarks/bench_ssim_zones.py WORK [--split test] [--limit N]

``WORK`` is a folder with ``data/import_data``, ``data/warp`` and ``data/train_tom/model``: the
repository after ``make demo``, or a ``bench_viton.py`` work folder. Whole-image SSIM (the
evaluate stage's) is the mean of one SSIM map, so it is the sum of each zone's share of that map.
Printed per zone (share of the picture, then each system's contribution to the whole SSIM):

* ``worn``: the worn garment (the parse's), where the garment's texture decides;
* ``region-not-worn``: the try-on region outside the worn garment (arms, neck, backdrop to repaint);
* ``agnostic-outside-region``: grey of the agnostic image outside the try-on region, which the
  model's repaint keeps as the photo but the agnostic baseline does not;
* ``rest``: pixels every system takes from the photo (windows that straddle a border still differ).

Systems: the repainted model output, its rendered branch alone, the agnostic image, the region
filled with the garment's mean colour, and the warped cloth pasted on the agnostic image.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from torch.utils.data import DataLoader
from torchmetrics.functional.image import structural_similarity_index_measure
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_tom_paste import open_work, work_parser  # noqa: E402  (its folder is on sys.path when run as a script)
from pipeline.evaluate.run import systems_for  # noqa: E402
from pipeline.models.repaint import repaint  # noqa: E402
from pipeline.train.inputs import person_input  # noqa: E402

ZONES = ("worn", "region-not-worn", "agnostic-outside-region", "rest")
SYSTEMS = ("model", "rendered", "agnostic", "mean_colour", "warped_paste")  # evaluate's four, and the rendered branch


def zone_masks(batch: dict, region: torch.Tensor, worn: torch.Tensor) -> dict[str, torch.Tensor]:
    """Boolean ``[B, 1, H, W]`` masks of the four zones; they partition the picture."""
    grey = (batch["agnostic"] - batch["image"]).abs().sum(1, keepdim=True) > 1e-3
    inside, on = region > 0.5, worn > 0.5
    return {"worn": on, "region-not-worn": inside & ~on, "agnostic-outside-region": grey & ~inside & ~on,
            "rest": ~grey & ~inside & ~on}


def main() -> None:
    args = work_parser(__doc__, batch=12).parse_args()
    work, ds, tom = open_work(args)
    if len(ds) == 0:
        raise SystemExit(f"split {args.split!r} of {work / 'data/import_data'} has no pairs")
    share = {z: 0.0 for z in ZONES}
    part = {(s, z): 0.0 for s in SYSTEMS for z in ZONES}
    for batch in tqdm(DataLoader(ds, batch_size=args.batch, shuffle=False), desc="pairs"):
        with torch.no_grad():
            out = tom(person_input(batch), batch["warped_cloth"], batch["warped_mask"])
        image, region, worn = batch["image"], batch["agnostic_mask"], batch["worn_mask"]
        systems = systems_for(batch, out.output, batch["warped_cloth"], batch["warped_mask"])
        systems["rendered"] = repaint(image, out.rendered, region)
        zones = zone_masks(batch, region, worn)
        pixels = float(image[0, 0].numel())
        for z, m in zones.items():
            share[z] += float(m.sum()) / pixels
        for s, pred in systems.items():
            _, ssim_map = structural_similarity_index_measure(
                (pred.float().clamp(-1, 1) + 1) / 2, (image.float() + 1) / 2, data_range=1.0,
                reduction="none", return_full_image=True)
            ssim_map = ssim_map.mean(1, keepdim=True)
            for z, m in zones.items():
                part[(s, z)] += float((ssim_map * m).sum()) / pixels
    n = len(ds)
    print(f"{n} pairs ({args.split}) of {work}; each cell: that zone's part of the whole-image SSIM")
    print(f"{'zone':<26}{'share':>8}" + "".join(f"{s:>14}" for s in SYSTEMS))
    for z in ZONES:
        print(f"{z:<26}{share[z] / n:>8.3f}" + "".join(f"{part[(s, z)] / n:>14.4f}" for s in SYSTEMS))
    print(f"{'whole-image SSIM':<26}{'':>8}" + "".join(f"{sum(part[(s, z)] for z in ZONES) / n:>14.4f}" for s in SYSTEMS))


if __name__ == "__main__":
    main()
