"""Where a trained TOM's garment comes from: pasted warped cloth or rendered pixels, and what each scores.

    python benchmarks/bench_tom_paste.py WORK [--split test] [--limit N]

``WORK`` is a ``bench_viton.py`` work folder (its ``data/import_data``, ``data/warp`` and
``data/train_tom/model``). Prints, over the split's pairs:

* the composition mask's mean inside the worn garment (1 = the warped cloth is pasted there);
* SSIM / PSNR on the whole image and in the garment region (the evaluate stage's definitions) for
  the model's output, for its rendered branch alone (composition mask 0), and for the output
  blurred by a Gaussian of sigma 1 and 2 px. The blurred rows are not systems: a blur that scores
  higher says the pasted texture is misplaced by about that much;
* the garment's mean colour written into the worn-garment region of the model's output: what a
  garment of exactly the right shape and flat colour would add on top of the model's arms and
  backdrop;
* for a TOM with the garment head (``model.garment_shape``), the IoU of its predicted garment
  mask (> 0.5) against the worn garment, beside the warped mask's own IoU.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
import torchvision.transforms.functional as TF
from torch.utils.data import DataLoader
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.evaluate.paired import paired_metrics  # noqa: E402
from pipeline.evaluate.run import mask_iou, mean_colour_fill  # noqa: E402
from pipeline.models.repaint import repaint  # noqa: E402
from pipeline.train.data import VitonDataset  # noqa: E402
from pipeline.train.inputs import person_input  # noqa: E402
from pipeline.train.model_io import load_model  # noqa: E402

KEYS = ("ssim", "psnr", "garment_ssim", "garment_psnr")


def blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian blur of a [B, 3, H, W] batch."""
    k = int(4 * sigma) | 1
    return TF.gaussian_blur(x, [k, k], [sigma, sigma])


def work_parser(description: str, batch: int) -> argparse.ArgumentParser:
    """Arguments of the benchmarks that score a work folder's trained TOM (this one, bench_ssim_zones)."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("work", type=Path, help="a bench_viton.py work folder")
    parser.add_argument("--split", default="test", help="split of data/import_data to score (default test)")
    parser.add_argument("--limit", type=int, default=None, help="first N pairs only")
    parser.add_argument("--batch", type=int, default=batch)
    parser.add_argument("--threads", type=int, default=2)
    return parser


def open_work(args: argparse.Namespace) -> tuple[Path, VitonDataset, torch.nn.Module]:
    """The work folder, its split's paired data set (with the warp) and its trained TOM."""
    torch.set_num_threads(args.threads)
    work = args.work.resolve()
    ds = VitonDataset(work / "data/import_data", args.split, warped_root=work / "data/warp", validate="none",
                      limit=args.limit)
    return work, ds, load_model(work / "data/train_tom/model", "tom")


def main() -> None:
    args = work_parser(__doc__, batch=25).parse_args()
    work, ds, tom = open_work(args)
    scores: dict[str, dict[str, list[float]]] = {}
    paste_share: list[float] = []
    ious: dict[str, list[float]] = {"warped mask": [], "garment head": []}

    def add(name: str, metrics: dict[str, list[float | None]]) -> None:
        for k in KEYS:
            scores.setdefault(name, {}).setdefault(k, []).extend(v for v in metrics[k] if v is not None)

    for batch in tqdm(DataLoader(ds, batch_size=args.batch, shuffle=False), desc="pairs"):
        with torch.no_grad():
            out = tom(person_input(batch), batch["warped_cloth"], batch["warped_mask"])
        image, region, worn = batch["image"], batch["agnostic_mask"], batch["worn_mask"]
        worn_any = [bool(w.sum() > 0) for w in worn]
        for w, cm, keep in zip(worn, out.comp_mask, worn_any):
            if keep:
                paste_share.append(float(cm[w > 0.5].mean()))
        for name, pred in (("warped mask", batch["warped_mask"]), ("garment head", out.garment)):
            if pred is not None:
                ious[name].extend(v for v, keep in zip(mask_iou(pred, worn), worn_any) if keep and v is not None)
        model = repaint(image, out.output, region)
        add("model", paired_metrics(model, image, worn, None))
        add("rendered branch only", paired_metrics(repaint(image, out.rendered, region), image, worn, None))
        for sigma in (1.0, 2.0):
            add(f"output blurred {sigma:g} px", paired_metrics(repaint(image, blur(out.output, sigma), region), image, worn, None))
        flat = mean_colour_fill(image, region, batch["cloth"], batch["cloth_mask"])
        add("model + flat garment of the true shape", paired_metrics(model * (1 - worn) + flat * worn, image, worn, None))

    print(f"{len(ds)} pairs ({args.split}) of {work}")
    print(f"composition mask inside the worn garment: mean {np.mean(paste_share):.3f}, "
          f"share of pairs above 0.5: {np.mean(np.array(paste_share) > 0.5):.3f}")
    print("IoU against the worn garment: " + ", ".join(f"{k} {np.mean(v):.3f}" for k, v in ious.items() if v))
    print(f"{'':<40}" + "".join(f"{k:>14}" for k in KEYS))
    for name, block in scores.items():
        print(f"{name:<40}" + "".join(f"{np.mean(block[k]):>14.4f}" for k in KEYS))


if __name__ == "__main__":
    main()
