"""`mpipaint jobs render TEMPLATE`: a SLURM batch script from a template in `jobs/` (installed with the
package as mpipaint/data/jobs, so a wheel renders too) and values from the command line or the `jobs:`
section of a config.

Templates use `${name}` placeholders (Python string.Template; `$$` is a literal `$`). An `#SBATCH` line
whose value is empty (no account, no partition, no GPUs) is left out, so nothing site-specific appears
unless configured; `modules` become `module load` lines and `setup` lines (e.g. activating a virtual
environment) follow them. The job runs the same `mpipaint VERB --config CONFIG [ARGS]` a user would run by
hand; `--args` (flags that win over the config) lets one config drive a job per target or variant.
"""
from __future__ import annotations

import shlex
import string
from pathlib import Path

from mpipaint.errors import InputError
from mpipaint.options import JobOptions

TEMPLATE_DIR = Path(__file__).resolve().parent / "data" / "jobs"  # package data; the repository's jobs/ links here
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


def _extra_args(args: str | None) -> str:
    """`--args` as shell words after the config (each quoted: a value cannot run a command), or nothing."""
    try:
        words = shlex.split(args or "")
    except ValueError as exc:
        raise InputError(f"--args {args!r}: not a list of shell words ({exc})") from None
    return "".join(f" {shlex.quote(word)}" for word in words)


def render(options: JobOptions) -> str:
    path = template_path(options.template)
    name = path.name.removesuffix(".sbatch")
    tasks = options.ntasks_per_node or (options.gpus_per_node or 16)
    setup = [f"module load {shlex.quote(m)}" for m in options.modules] + list(options.setup)
    values = {"job_name": options.job_name or f"mpipaint-{name}", "nodes": options.nodes,
              "ntasks_per_node": tasks, "gpus_per_node": options.gpus_per_node or "",
              "cpus_per_task": options.cpus_per_task, "time": options.time, "account": options.account or "",
              "partition": options.partition or "", "setup": "\n".join(setup),
              "config": shlex.quote(str(Path(options.config).resolve())), "launcher": options.launcher,
              "stop_before_s": options.stop_before_s, "args": _extra_args(options.args)}
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
