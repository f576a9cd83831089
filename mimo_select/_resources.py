"""Where the bundled data lives: inside the wheel, or at the repository root in a checkout.

The wheel maps `data/` and `rules/` into the package; an editable install does not, so fall back
to the folders beside the package.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path


@cache
def bundled(folder: str) -> Path:
    """The directory holding the bundled `folder` (`"data"` or `"rules"`)."""
    packaged = Path(str(resources.files("mimo_select"))) / folder
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / folder


def bundled_file(folder: str, name: str) -> Path:
    return bundled(folder) / name
