"""`mpipaint jobs render TEMPLATE`: a SLURM batch script from a template in `jobs/` (installed with the
package as mpipaint/data/jobs, so a wheel renders too) and values from the command line or the `jobs:`
section of a config.

Templates use `${name}` placeholders (Python string.Template; `$$` is a literal `$`). An `#SBATCH` line
whose value is empty (no account, no partition, no GPUs) is left out, so nothing site-specific appears
unless configured; `modules` become `module load` lines and `setup` lines (e.g. activating a virtual
environment) follow them. The job runs the same `mpipaint VERB --config CONFIG` a user would run by hand.
"""
from __future__ import annotations

import re
import shlex
import string
from dataclasses import dataclass
from pathlib import Path

from mpipaint.config import option
from mpipaint.errors import InputError

TEMPLATE_DIR = Path(__file__).resolve().parent / "data" / "jobs"  # package data; the repository's jobs/ links here
TIME_FORMAT = re.compile(r"^(\d+-)?\d{1,2}:\d{2}:\d{2}$")
# job name, account, partition: one #SBATCH token each (a newline in one would add a line to the script)
SLURM_NAME = re.compile(r"[A-Za-z0-9_.:+-]+")
LAUNCHERS = ("srun", "mpirun")


@dataclass(frozen=True)
class JobOptions:
    """Values for a job template (CLI flags or the `jobs:` section of a YAML config)."""

    template: str = option(None, "select, prepare, train, paint, or a template file", positional=True)
    config: str = None  # the mpipaint config the job runs with (the command's --config)
    nodes: int = option(1, "nodes")
    ntasks_per_node: int = option(None, "MPI ranks per node (default: GPUs per node, or 16)", item_type=int)
    gpus_per_node: int = option(0, "GPUs per node")
    cpus_per_task: int = option(1, "cores per MPI rank")
    time: str = option("01:00:00", "wall-time limit, [D-]HH:MM:SS")
    account: str = option(None, "SLURM account")
    partition: str = option(None, "SLURM partition")
    job_name: str = option(None, "job name (default: mpipaint-TEMPLATE)")
    modules: tuple = ()  # `module load` these, in order
    setup: tuple = ()  # shell lines run before mpipaint (e.g. "source ~/venvs/mpipaint/bin/activate")
    launcher: str = option("srun", "what starts the MPI ranks", choices=LAUNCHERS)

    def __post_init__(self):
        if not (self.template and self.config):
            raise ValueError("'template' and 'config' are required")
        if self.nodes < 1 or self.gpus_per_node < 0 or self.cpus_per_task < 1:
            raise ValueError("need nodes >= 1, gpus_per_node >= 0 and cpus_per_task >= 1")
        if self.ntasks_per_node is not None and self.ntasks_per_node < 1:
            raise ValueError("ntasks_per_node must be >= 1")
        if not TIME_FORMAT.match(str(self.time)):
            raise ValueError(f"time must be [D-]HH:MM:SS, got {self.time!r}")
        for key in ("job_name", "account", "partition"):
            value = getattr(self, key)
            if value is not None and not SLURM_NAME.fullmatch(str(value)):
                raise ValueError(f"{key} may hold letters, digits and _.:+- only, got {value!r}")
        if self.launcher not in LAUNCHERS:
            raise ValueError(f"launcher must be one of {LAUNCHERS}, not {self.launcher!r}")


def template_path(name: str) -> Path:
    """A template by path, or by name in the repository's jobs/ directory."""
    path = Path(name)
    if path.is_file():
        return path
    candidate = TEMPLATE_DIR / f"{name}.sbatch"
    if candidate.is_file():
        return candidate
    known = sorted(p.stem for p in TEMPLATE_DIR.glob("*.sbatch"))
    raise InputError(f"{name}: no such job template (known: {', '.join(known)}; or give a file path)")


def render(options: JobOptions) -> str:
    path = template_path(options.template)
    name = path.name.removesuffix(".sbatch")
    tasks = options.ntasks_per_node or (options.gpus_per_node or 16)
    setup = [f"module load {shlex.quote(m)}" for m in options.modules] + list(options.setup)
    values = {"job_name": options.job_name or f"mpipaint-{name}", "nodes": options.nodes,
              "ntasks_per_node": tasks, "gpus_per_node": options.gpus_per_node or "",
              "cpus_per_task": options.cpus_per_task, "time": options.time, "account": options.account or "",
              "partition": options.partition or "", "setup": "\n".join(setup),
              "config": shlex.quote(str(Path(options.config).resolve())), "launcher": options.launcher}
    lines = []
    for line in path.read_text().splitlines():
        try:
            rendered = string.Template(line).substitute(values)
        except KeyError as exc:
            raise InputError(f"{path}: unknown placeholder ${{{exc.args[0]}}} (known: {', '.join(values)})") from None
        if line.startswith("#SBATCH") and rendered.rstrip().endswith("="):
            continue  # an option with no value: not set at all
        if line.strip() == "${setup}" and not setup:
            continue
        lines.append(rendered)
    return "\n".join(lines) + "\n"
