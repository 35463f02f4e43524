"""Stage evaluate: paired and unpaired metrics of the trained try-on models on the test pairs.

Writes ``metrics/evaluate.json`` (model and baselines), ``metrics/evaluate_pairs.csv`` and
``metrics/evaluate_samples/*.png``, and logs them as an MLflow run of the training experiment
tagged with the registered model versions evaluated. ``evaluate.size`` defaults to ``train_tom.size``.
"""

from __future__ import annotations

from pipeline.evaluate import EvaluateConfig, EvaluateOutputs, evaluate, flat_metrics
from pipeline.infer.models import ModelNotFound
from pipeline.tracking.mlflow_run import stage_run
from stages._common import load_params, stage_setup


def main() -> None:
    params = dict(stage_setup("evaluate"))
    if params.get("size") is None:
        try:
            params["size"] = load_params("train_tom").get("size", [256, 192])
        except SystemExit:  # no train_tom block: the training default
            params["size"] = [256, 192]
    cfg = EvaluateConfig.from_dict(params)
    outputs = EvaluateOutputs()
    flat = {k: str(v) for k, v in cfg.to_dict().items()}
    with stage_run("evaluate", cfg.mlflow_experiment, flat, cfg.params_hash(), enabled=cfg.log_mlflow and bool(cfg.mlflow_experiment)) as run:  # "" = off, as in training
        try:
            summary = evaluate(cfg, outputs)
        except ModelNotFound as exc:
            raise SystemExit(str(exc)) from exc
        run.set_tags({f"evaluated_model.{name}": version for name, version in summary["registered_versions"].items()}
                     or {"evaluated_model": "unregistered"})
        run.set_tags({"eval_pairs": str(summary["pairs"]),
                      **{f"unavailable.{k}": v[:250] for k, v in summary["unavailable"].items()}})
        run.log_metrics(flat_metrics(summary), step=0)
        run.log_artifact(outputs.metrics_json)
        run.log_artifact(outputs.pairs_csv)
        for png in sorted(outputs.samples_dir.glob("*.png")):
            run.log_artifact(png, "evaluate_samples")


if __name__ == "__main__":
    main()
