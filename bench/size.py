"""Size: the built NotifyLayer (.aws-sam/build/NotifyLayer), unzipped and zipped.

Uses the existing `sam build` output; when it is missing and a Python 3.12
interpreter is available (what `make sam` needs), runs `make build` first
(bounded to a few minutes); otherwise reports "not built". The zip is made the
way Lambda receives a layer (deflate, all files) in a temporary file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import zipfile
from pathlib import Path

from common import ROOT

LAYER = ROOT / ".aws-sam" / "build" / "NotifyLayer"


def ensure_built() -> str | None:
    """None when the layer exists (or was built now), else why it is not built."""
    if LAYER.is_dir():
        return None
    if not (shutil.which("python3.12") or list(Path.home().glob(".pyenv/versions/3.12*/bin/python3.12"))):
        return "not built (no Python 3.12 for sam build)"
    try:
        subprocess.run(["make", "build"], cwd=ROOT, check=True, capture_output=True, timeout=300)
    except (subprocess.SubprocessError, OSError) as err:
        return f"not built (make build failed: {type(err).__name__})"
    return None if LAYER.is_dir() else "not built"


def tree_size(root: Path) -> int:
    return sum(path.stat().st_size for path in root.rglob("*") if path.is_file() and not path.is_symlink())


def zipped_size(root: Path) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "layer.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
            for path in sorted(root.rglob("*")):
                if path.is_file():
                    zipped.write(path, path.relative_to(root))
        return archive.stat().st_size


def largest_packages(root: Path, count: int = 6) -> list[tuple[str, float]]:
    base = root / "python"
    if not base.is_dir():
        return []
    sizes = [(entry.name, tree_size(entry) / 2**20) for entry in base.iterdir()
             if entry.is_dir() and not entry.name.endswith((".dist-info", ".data"))]
    return sorted(sizes, key=lambda item: -item[1])[:count]


def run() -> dict:
    problem = ensure_built()
    if problem:
        return {"built": False, "note": problem}
    return {"built": True, "unzipped_mb": tree_size(LAYER) / 2**20, "zipped_mb": zipped_size(LAYER) / 2**20,
            "largest": largest_packages(LAYER), "built_at": os.path.getmtime(LAYER)}


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
