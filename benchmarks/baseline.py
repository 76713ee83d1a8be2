"""A module of mpipaint as it was at a git commit, imported beside this tree's, so that a benchmark times
the code it replaces while the repository keeps one implementation."""
import importlib.util
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def module_at(commit: str, path: str, directory: Path):
    """The file `path` (e.g. mpipaint/halos/slabs.py) at `commit`, imported from git's copy written into
    `directory` (numba caches by file)."""
    source = subprocess.run(["git", "show", f"{commit}:{path}"], capture_output=True, text=True, check=True,
                            cwd=ROOT).stdout
    name = f"{Path(path).stem}_{commit}"
    copy = Path(directory) / f"{name}.py"
    copy.write_text(source)
    spec = importlib.util.spec_from_file_location(name, copy)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
