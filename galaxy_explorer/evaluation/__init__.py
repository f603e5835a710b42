"""Evaluation of a diffusion checkpoint against a survey: ``run_evaluation(EvaluationConfig(...))`` writes
``report.html`` and ``metrics.json`` (the ``galaxy-explorer evaluate`` command).

``run_evaluation`` is imported on first use: the pipeline brings scipy and matplotlib, which a command line that
only builds its options from ``EvaluationConfig`` does not need.
"""

from galaxy_explorer.evaluation.config import EvaluationConfig, EvaluationError

__all__ = ["EvaluationConfig", "EvaluationError", "run_evaluation"]


def __getattr__(name: str):
    if name == "run_evaluation":
        from galaxy_explorer.evaluation.pipeline import run_evaluation

        return run_evaluation
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
