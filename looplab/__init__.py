"""looplab: DNN-accelerator design-space exploration around the real Timeloop and Accelergy."""

from looplab.errors import LooplabError

__all__ = ["LooplabError", "__version__"]
__version__ = "0.1.0"
