"""In-house analytical model reproducing Timeloop's nest analysis, energy and cycles (batched, numpy)."""

from looplab.analytical.model import analyse, costs, level_costs

__all__ = ["analyse", "costs", "level_costs"]
