"""``python -m surrogates.rtl cv FIRESIM.csv --out DIR``: the cross-validated table of every RTL predictor."""

from __future__ import annotations

import sys

from looplab.errors import LooplabError


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] != "cv":
        print("usage: python -m surrogates.rtl cv FIRESIM.csv --out DIR [--predictors ...]", file=sys.stderr)
        return 2
    from surrogates.rtl.cli_entry import cv

    try:
        return cv(argv[1:])
    except LooplabError as exc:
        print(f"looplab: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
