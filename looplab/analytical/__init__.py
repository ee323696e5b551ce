"""In-house analytical model reproducing Timeloop's nest analysis, energy and cycles.

``evaluate_batch`` (numpy, chunked), ``evaluate`` (one mapping with per-level statistics) and
``evaluate_files`` (timeloop-model's inputs); ``looplab.analytical.torch_model`` is the differentiable path.
"""

from looplab.analytical.api import BatchResult, evaluate, evaluate_batch, evaluate_files, read_problem
from looplab.analytical.model import analyse, costs, level_costs

__all__ = ["BatchResult", "analyse", "costs", "evaluate", "evaluate_batch", "evaluate_files", "level_costs",
           "read_problem"]
