"""Parameters of the `train` stage kind: a train configuration (pipeline/training/params.py,
where the hpo stage's trials find it too)."""

from ...training.params import InitFrom, OptimizerParams, ScheduleParams, TrainParams

__all__ = ["InitFrom", "OptimizerParams", "ScheduleParams", "TrainParams"]
