"""Path arguments of the command line, checked up front: ``p.add_argument("--out", type=path_arg("out_dir"))``.

Kinds: ``file`` (an existing file), ``dir`` (an existing folder), ``any`` (an existing file or folder),
``out_file`` (a file to write: not a folder, and no file where its folder should be), ``out_dir`` (a folder to
write into: not a file). The value is a :class:`pathlib.Path`; every check runs in :func:`check_paths` after
parsing (``looplab.cli.main`` calls it), so a wrong path is one ``looplab: error: PATH: ...`` line (exit 2)
before any work starts, naming the path and what was expected.
"""

from __future__ import annotations

from pathlib import Path

from looplab.errors import LooplabError

KINDS = ("file", "dir", "any", "out_file", "out_dir")
_pending: list[tuple[str, Path]] = []


class PathArg:
    """An argparse ``type`` that returns a Path and records it for :func:`check_paths`."""

    def __init__(self, kind: str):
        if kind not in KINDS:
            raise ValueError(f"unknown path kind {kind!r}")
        self.kind = kind
        self.__name__ = kind

    def __call__(self, text: str) -> Path:
        path = Path(text)
        _pending.append((self.kind, path))
        return path


def path_arg(kind: str) -> PathArg:
    return PathArg(kind)


def _blocking_parent(path: Path) -> Path | None:
    """The first existing ancestor of ``path`` that is a file (so nothing can be created below it)."""
    for parent in path.absolute().parents:
        if parent.exists():
            return parent if not parent.is_dir() else None
    return None


def check_path(kind: str, path: Path) -> None:
    """Raise LooplabError when ``path`` cannot serve as ``kind``."""
    where = str(path)
    if kind in ("file", "dir", "any") and not path.exists():
        what = {"file": "file", "dir": "folder", "any": "file or folder"}[kind]
        raise LooplabError(f"no such {what}", where)
    if kind == "file" and path.is_dir():
        raise LooplabError("is a directory; expected a file", where)
    if kind == "dir" and not path.is_dir():
        raise LooplabError("is a file; expected a folder", where)
    if kind == "out_file" and path.is_dir():
        raise LooplabError("is a directory; give the path of a file to write", where)
    if kind == "out_dir" and path.exists() and not path.is_dir():
        raise LooplabError("is a file; give a folder to write into", where)
    if kind in ("out_file", "out_dir"):
        blocker = _blocking_parent(path)
        if blocker is not None:
            raise LooplabError(f"cannot be created: {blocker} is a file, not a folder", where)


def check_paths() -> None:
    """Check (and forget) every path argument parsed since the last call."""
    pending = list(_pending)
    _pending.clear()
    for kind, path in pending:
        check_path(kind, path)


def reset() -> None:
    _pending.clear()
