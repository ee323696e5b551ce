"""One error type for bad user input, always naming the file/field/point at fault."""

from __future__ import annotations


class LooplabError(ValueError):
    """Bad input or a failed external step, with the place it came from.

    ``where`` names the file, field or sweep point (e.g. ``"arch.yaml: GlobalBuffer.depth"``).
    """

    #: the command's exit status for this error (looplab.cli.exit_codes)
    exit_status = 2

    def __init__(self, message: str, where: str | None = None):
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)


class ToolMissingError(LooplabError):
    """A simulator or external tool the command needs is not installed (exit status 3, like a failed evaluation)."""

    exit_status = 3
