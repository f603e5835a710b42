"""Evaluation of a diffusion checkpoint against a survey: ``run_evaluation(EvaluationConfig(...))`` writes
``report.html`` and ``metrics.json`` (the ``galaxy-explorer evaluate`` command)."""

from galaxy_explorer.evaluation.pipeline import EvaluationConfig, EvaluationError, run_evaluation

__all__ = ["EvaluationConfig", "EvaluationError", "run_evaluation"]
