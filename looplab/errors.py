"""One error type for bad user input, always naming the file/field/point at fault."""

from __future__ import annotations


class LooplabError(ValueError):
    """Bad input or a failed external step, with the place it came from.

    ``where`` names the file, field or sweep point (e.g. ``"arch.yaml: GlobalBuffer.depth"``).
    """

    def __init__(self, message: str, where: str | None = None):
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)
