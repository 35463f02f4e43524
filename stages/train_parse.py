"""Stage train_parse: the learned parser, trained on a data set's own parse maps (``python -m stages.train_parse``)."""

from __future__ import annotations

from pipeline.train.data import DatasetLayoutError
from pipeline.train.parse_config import ParseTrainConfig
from pipeline.train.parse_trainer import STAGE, train_parser
from pipeline.train.stage_runner import StagePaths
from stages._common import stage_setup


def main() -> None:
    try:
        cfg = ParseTrainConfig.from_dict(stage_setup("train_parse"))
    except ValueError as exc:
        raise SystemExit(f"params 'train_parse:' block: {exc}") from exc
    try:
        train_parser(cfg, StagePaths.for_stage(STAGE))
    except (DatasetLayoutError, ValueError) as exc:
        raise SystemExit(f"train_parse: {exc}") from exc


if __name__ == "__main__":
    main()
