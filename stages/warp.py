"""Stage warp: warp every pair's cloth with the trained GMM into ``data/warp/{train,test}/warped-{cloth,mask}``.

The images are written at ``train_tom.size`` (unless ``warp.size`` is set), the size the try-on module trains at.
"""

from __future__ import annotations

from pipeline.stage_metrics import StageMetrics
from pipeline.train.warp_writer import WarpConfig, write_warped
from stages._common import load_params, stage_setup


def main() -> None:
    params = dict(stage_setup("warp"))
    params.setdefault("size", load_params("train_tom").get("size", [256, 192]))
    cfg = WarpConfig.from_dict(params)
    metrics = StageMetrics("warp")
    write_warped(cfg, "data/warp", metrics)
    metrics.write("metrics/warp.json")


if __name__ == "__main__":
    main()
