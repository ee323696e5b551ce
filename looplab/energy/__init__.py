"""Energy tables: Accelergy ERT/ART loading (``ert``) and the size-based estimator (``estimator``)."""

from looplab.energy.ert import ActionEntry, Ert, load_art, load_ert

__all__ = ["ActionEntry", "Ert", "load_art", "load_ert"]
