"""The learning-rate schedule: warm-up, then constant or a linear decay that ends with the run, time budgets included."""

from __future__ import annotations

import pytest

from pipeline.train.config import TrainConfig
from pipeline.train.loop import LRSchedule, planned_epochs


def test_warm_up_then_constant() -> None:
    s = LRSchedule(warmup_steps=4, total_steps=100, kind="constant")
    assert [s(i) for i in range(5)] == [0.25, 0.5, 0.75, 1.0, 1.0]
    assert s(99) == 1.0 and s(500) == 1.0


def test_linear_decays_to_zero_at_the_last_step() -> None:
    s = LRSchedule(warmup_steps=10, total_steps=110, kind="linear")
    assert s(0) == pytest.approx(0.1)
    assert s(10) == 1.0
    assert s(60) == pytest.approx(0.5)
    assert s(109) == pytest.approx(0.01)
    assert s(110) == 0.0 and s(200) == 0.0
    values = [s(i) for i in range(10, 111)]
    assert all(a >= b for a, b in zip(values, values[1:]))


def test_linear_follows_a_changed_end() -> None:
    s = LRSchedule(warmup_steps=0, total_steps=100, kind="linear")
    assert s(50) == pytest.approx(0.5)
    s.total_steps = 200  # the trainer re-estimates the end each epoch
    assert s(50) == pytest.approx(0.75)


def test_unknown_schedule_is_refused() -> None:
    with pytest.raises(ValueError, match="lr_schedule"):
        LRSchedule(0, 10, "cosine")
    with pytest.raises(ValueError, match="lr_schedule"):
        TrainConfig.from_dict({"lr_schedule": "cosine"})


def test_planned_epochs_without_and_with_a_budget() -> None:
    assert planned_epochs(7, done=3, elapsed=100.0, epoch_seconds=[30.0], budget_s=0) == 7
    # Before the first epoch nothing is known: the configured count.
    assert planned_epochs(1000, done=0, elapsed=0.0, epoch_seconds=[], budget_s=3000) == 1000
    # 1000 s per epoch, 1000 s spent of 3000: two more epochs fit, as the loop's own stop test will find.
    assert planned_epochs(1000, done=1, elapsed=1000.0, epoch_seconds=[1000.0], budget_s=3000) == 3
    # The configured count still caps it.
    assert planned_epochs(2, done=1, elapsed=10.0, epoch_seconds=[10.0], budget_s=3000) == 2
    # The epoch about to start is always counted.
    assert planned_epochs(1000, done=2, elapsed=2990.0, epoch_seconds=[1000.0, 1000.0], budget_s=3000) == 3
