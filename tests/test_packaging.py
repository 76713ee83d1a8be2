"""The wheel is the whole product: a non-editable install must render job templates and carry the example
configs, with no repository beside it."""
import subprocess
import sys
import zipfile
from pathlib import Path

from conftest import mpi_env

ROOT = Path(__file__).resolve().parents[1]


def test_a_wheel_carries_the_templates_and_configs_and_renders_jobs_on_its_own(tmp_path):
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation",
                            "-w", str(tmp_path / "dist")], capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr[-3000:]
    wheel = next((tmp_path / "dist").glob("mpipaint-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        archive.extractall(tmp_path / "site")
    for template in (ROOT / "jobs").glob("*.sbatch"):
        assert f"mpipaint/data/jobs/{template.name}" in names
    for config in (ROOT / "configs").glob("*.yaml"):
        assert f"mpipaint/data/configs/{config.name}" in names
    config = tmp_path / "site.yaml"
    config.write_text("jobs:\n  account: astro123\n")
    env = {**mpi_env(), "PYTHONPATH": str(tmp_path / "site")}  # the unpacked wheel alone, not the checkout
    rendered = subprocess.run([sys.executable, "-c", "import mpipaint, sys; print(mpipaint.__file__); "
                               "from mpipaint.cli import main; sys.argv = ['mpipaint', 'jobs', 'render', 'paint', "
                               f"'--config', '{config}']; main()"],
                              capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert rendered.returncode == 0, rendered.stderr
    assert rendered.stdout.startswith(str(tmp_path / "site"))
    assert "#SBATCH --account=astro123" in rendered.stdout and "mpipaint paint --config" in rendered.stdout
