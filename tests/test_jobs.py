"""SLURM templates: every one renders from a config, passes `bash -n`, carries the #SBATCH lines asked
for (and none that were not), and runs the same `mpipaint VERB --config` a user would."""
import subprocess
from pathlib import Path

import pytest

from conftest import mpipaint_cmd
from mpipaint.jobs import TEMPLATE_DIR

TEMPLATES = sorted(p.stem for p in TEMPLATE_DIR.glob("*.sbatch"))


def render(*args, check=True):
    result = subprocess.run(mpipaint_cmd("jobs", "render", *args), capture_output=True, text=True, timeout=60)
    if check:
        assert result.returncode == 0, result.stderr
    return result


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "site.yaml"
    path.write_text("jobs:\n  account: astro123\n  modules: [openmpi/4.1.6, cuda/12.4]\n"
                    "  setup: ['source $HOME/venvs/mpipaint/bin/activate']\n  time: '1-06:00:00'\n")
    return path


def test_the_four_templates_exist():
    assert TEMPLATES == ["paint", "prepare", "select", "train"]


@pytest.mark.parametrize("template", TEMPLATES)
def test_template_renders_to_a_valid_batch_script(template, config, tmp_path):
    script = render(template, "--config", config, "--nodes", "3", "--gpus-per-node", "4",
                    "--partition", "gpu").stdout
    path = tmp_path / "job.sbatch"
    path.write_text(script)
    assert subprocess.run(["bash", "-n", str(path)], capture_output=True).returncode == 0
    sbatch = [line for line in script.splitlines() if line.startswith("#SBATCH")]
    assert "#SBATCH --nodes=3" in sbatch and "#SBATCH --account=astro123" in sbatch
    assert "#SBATCH --partition=gpu" in sbatch and "#SBATCH --time=1-06:00:00" in sbatch
    assert f"#SBATCH --job-name=mpipaint-{template}" in sbatch and "#SBATCH --ntasks-per-node=4" in sbatch
    if template in ("train", "paint"):
        assert "#SBATCH --gpus-per-node=4" in sbatch
    assert "module load openmpi/4.1.6" in script and "module load cuda/12.4" in script
    assert f"srun mpipaint {template} --config {config.resolve()}" in script
    assert "${" not in script.replace("${SLURM_CPUS_PER_TASK:-1}", "")
    if template in ("paint", "prepare", "train"):  # stopped resumably by SLURM's signal, they queue themselves again
        assert "#SBATCH --signal=USR1@120" in sbatch and "#SBATCH --requeue" in sbatch
        assert 'if [ "$status" -eq 143 ]; then scontrol requeue "$SLURM_JOB_ID"; fi' in script


def test_a_stopped_job_requeues_itself_and_a_failed_one_does_not(config, tmp_path):
    """The paint script run by bash with stand-ins for srun and scontrol: exit 143 (stopped by a signal,
    output resumable) requeues the job; any other failure does not; the job's exit code is mpipaint's."""
    script = tmp_path / "job.sbatch"
    script.write_text(render("paint", "--config", config, "--stop-before-s", "300").stdout)
    assert "#SBATCH --signal=USR1@300" in script.read_text()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (tmp_path / "venvs" / "mpipaint" / "bin").mkdir(parents=True)
    (tmp_path / "venvs" / "mpipaint" / "bin" / "activate").write_text("")  # the config's setup line sources it
    for name, body in (("srun", 'exit "$MPIPAINT_EXIT"'), ("scontrol", f'echo "$@" >> {tmp_path}/requeued'),
                       ("module", "true")):
        (bin_dir / name).write_text(f"#!/bin/bash\n{body}\n")
        (bin_dir / name).chmod(0o755)
    for code, requeued in ((143, "requeue 77\n"), (1, None), (0, None)):
        (tmp_path / "requeued").unlink(missing_ok=True)
        env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "MPIPAINT_EXIT": str(code), "SLURM_JOB_ID": "77", "HOME": str(tmp_path)}
        ran = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True)
        assert ran.returncode == code, ran.stderr
        assert ((tmp_path / "requeued").read_text() if (tmp_path / "requeued").exists() else None) == requeued


def test_one_config_trains_each_target_with_its_own_flags_and_they_cannot_run_code(tmp_path):
    """--args puts flags after the site's config (flags win): the README's Compton-y job trains with the
    y overlay into its own bundle. Each flag is one quoted shell word: the rendered job, run with an srun that
    records its arguments, passes them to mpipaint exactly and runs nothing a value holds."""
    configs = Path(__file__).parents[1] / "configs"
    script = tmp_path / "train_y.sbatch"
    overlay = configs / "train-y.yaml"
    script.write_text(render("train", "--config", configs / "tng300.yaml", "--args",
                             f"--config {overlay} --data tng300/maps_fp.hdf5 "
                             "--out 'tng300/bundles/y $(touch hacked)'").stdout)
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "srun").write_text(f'#!/bin/bash\nprintf "%s\\n" "$@" > {tmp_path}/argv\n')
    (bin_dir / "srun").chmod(0o755)
    ran = subprocess.run(["bash", str(script)], env={"PATH": f"{bin_dir}:/usr/bin:/bin"}, cwd=tmp_path,
                         capture_output=True, text=True)
    assert ran.returncode == 0, ran.stderr
    argv = (tmp_path / "argv").read_text().splitlines()
    assert argv == ["mpipaint", "train", "--config", str((configs / "tng300.yaml").resolve()), "--config",
                    str(overlay), "--data", "tng300/maps_fp.hdf5", "--out", "tng300/bundles/y $(touch hacked)"]
    assert not (tmp_path / "hacked").exists()
    from mpipaint.cli import CONFIG_SECTIONS, build_parser  # the job's flags make the options of that target
    from mpipaint.config import cli_values, section
    from mpipaint.options import TrainOptions
    args = build_parser(argv[1:]).parse_args(argv[1:])
    options = section(args.config, "train", TrainOptions, cli_values(args, TrainOptions, "train"), CONFIG_SECTIONS)
    assert (options.target, options.scheme, options.space, options.mask, options.base_filters) == (
        ("y",), "minmax", "log", False, 64)
    assert (options.data, options.out) == ("tng300/maps_fp.hdf5", "tng300/bundles/y $(touch hacked)")
    unbalanced = render("train", "--config", configs / "tng300.yaml", "--args", "--out 'open", check=False)
    assert unbalanced.returncode == 2 and "not a list of shell words" in unbalanced.stderr


def test_nothing_site_specific_without_a_value(tmp_path):
    config = tmp_path / "plain.yaml"
    config.write_text("paint:\n  out: x.hdf5\n")
    script = render("paint", "--config", config, "--launcher", "mpirun").stdout
    sbatch = "\n".join(line for line in script.splitlines() if line.startswith("#SBATCH"))
    assert "--account" not in sbatch and "--partition" not in sbatch and "--gpus-per-node" not in sbatch
    assert "module load" not in script and "#SBATCH --ntasks-per-node=16" in sbatch
    assert f"mpirun mpipaint paint --config {config.resolve()}" in script


def test_bad_template_and_values_are_refused(config):
    unknown = render("pain", "--config", config, check=False)
    assert unknown.returncode == 2
    assert "pain: no such job template (known: paint, prepare, select, train" in unknown.stderr
    bad_time = render("paint", "--config", config, "--time", "90 minutes", check=False)
    assert bad_time.returncode == 2 and "time must be [D-]HH:MM:SS" in bad_time.stderr
    injected = render("paint", "--config", config, "--job-name", "x\nrm -rf ~", check=False)
    assert injected.returncode == 2 and "job_name may hold letters" in injected.stderr and not injected.stdout
    no_config = subprocess.run(mpipaint_cmd("jobs", "render", "paint"), capture_output=True, text=True)
    assert no_config.returncode == 2 and "needs --config" in no_config.stderr
