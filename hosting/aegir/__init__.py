"""Taking over an Aegir 3 installation: plan (what its context files and the disk say, against
the records), show (the plan for people and programs), record (one transaction, then verifies).
The panel and the API read a directory only inside HARBORMASTER_ROOTS (`directory()`); the
command line is an operator's and reads the one it is given."""
from __future__ import annotations

from pathlib import Path

from hosting.inventory import InventoryError
from hosting.operations.common import roots
from provision.errors import UnsafePath


def directory(text: str) -> Path:
    """TEXT as the directory of Aegir's context files, inside the roots; InventoryError if not."""
    if not text or "\x00" in text:
        raise InventoryError("Name the directory of Aegir's context files (~aegir/.drush).")
    try:
        path = roots().inside(Path(text))
    except UnsafePath as exc:
        raise InventoryError(str(exc)) from None
    if Path(text).is_symlink() or not path.is_dir():
        raise InventoryError(f"{path} is not a directory.")
    return path
