"""Every shipped config loads and validates against the options of its verbs."""
import subprocess
import sys
from pathlib import Path

import pytest

from mpipaint.cli import CONFIG_SECTIONS
from mpipaint.config import build, load_yaml
from mpipaint.errors import InputError
from mpipaint.options import (DemoOptions, EvaluateOptions, ExportSimputOptions, JobOptions, LightconeOptions,
                              PaintOptions, PrepareOptions, SelectOptions, SynthConfig, TrainOptions)

OPTIONS = {"synth": SynthConfig, "select": SelectOptions, "prepare": PrepareOptions, "train": TrainOptions,
           "paint": PaintOptions, "evaluate": EvaluateOptions, "calibrate": EvaluateOptions, "demo": DemoOptions,
           "jobs": JobOptions, "lightcone": LightconeOptions, "export-simput": ExportSimputOptions}
REQUIRED_PATHS = {"select": {"source": "x", "out": "y"}, "prepare": {"run": "x", "halos": "y", "out": "z"},
                  "train": {"data": "x", "out": "y"}, "paint": {"box": "x", "models": ["m"], "out": "y"},
                  "evaluate": {"models": ["m"], "data": "x", "out": "y"},
                  "calibrate": {"models": ["m"], "data": "x", "out": "y"},
                  "jobs": {"template": "paint", "config": "c.yaml"}}
CONFIGS = sorted((Path(__file__).parents[1] / "configs").glob("*.yaml"))


def test_every_verb_with_a_config_section_has_options():
    assert set(CONFIG_SECTIONS) == set(OPTIONS)


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_shipped_config_validates(path):
    data = load_yaml(path)
    assert data and set(data) <= set(OPTIONS)
    for name, values in data.items():
        build(OPTIONS[name], {**REQUIRED_PATHS.get(name, {}), **values}, f"{path}:{name}")


def test_tng300_config_is_the_papers_setup():
    data = load_yaml(Path(__file__).parents[1] / "configs" / "tng300.yaml")
    select = build(SelectOptions, data["select"], "tng300:select")
    prepare = build(PrepareOptions, data["prepare"], "tng300:prepare")
    train = build(TrainOptions, data["train"], "tng300:train")
    assert select.snapshots == (50, 67, 78, 99) and select.min_m200c == 1e14
    assert (prepare.npix, prepare.width) == (512, 4000.0)
    assert (train.base_filters, train.depth, train.scheme, train.mask) == (64, 4, "minmax", True)


def test_the_example_runs_the_demo_defaults():
    """scripts/example.sh (the README's first command) runs configs/demo.yaml, and `mpipaint demo` alone the
    defaults: one demo, whose time and numbers the README quotes (the file had kept 60 epochs and a 70 %
    training split, 825 s on 2 AVX2 cores against the defaults' 485 s)."""
    data = load_yaml(Path(__file__).parents[1] / "configs" / "demo.yaml")
    assert build(DemoOptions, data["demo"], "demo.yaml:demo") == DemoOptions()


@pytest.mark.parametrize("text,message", [
    ("train:\n  epochs: 10\n  learnig_rate: 0.1\n", r"unknown key\(s\) \['learnig_rate'\]"),
    ("train:\n  epochs: ten\n", r"train.epochs: expected an integer, got 'ten'"),
    ("trian:\n  epochs: 10\n", r"unknown section\(s\) \['trian'\]"),
    ("jobs:\n  time: 12h\n", r"time must be \[D-\]HH:MM:SS"),
    ("train: [1, 2\n", "not valid YAML"),
    ("train:\n  data: 12\n", r"train.data: expected text \(a path or a name\), got 12"),
    ("train:\n  learning_rate: .nan\n", r"train.learning_rate: expected a finite number, got nan"),
])
def test_malformed_config_gives_a_clear_error(tmp_path, text, message):
    from mpipaint.config import section
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    verb, options = ("jobs", JobOptions) if text.startswith("jobs") else ("train", TrainOptions)
    required = {"template": "paint", "config": str(path)} if verb == "jobs" else {"out": "y"}
    required.update({} if verb == "jobs" or "data:" in text else {"data": "x"})
    with pytest.raises(InputError, match=message) as error:
        section(path, verb, options, required, CONFIG_SECTIONS)
    assert str(path) in str(error.value)


@pytest.mark.parametrize("verb,argv,yaml", [
    ("train", ["--data", "ts.hdf5", "--out", "b", "--lr", "0.002", "--no-augment", "--mask", "--split", "0.6",
               "0.2", "0.2", "--precision", "bf16", "--target", "gas"],
     "train:\n  data: ts.hdf5\n  out: b\n  learning_rate: 0.002\n  augment: false\n  mask: true\n"
     "  split: [0.6, 0.2, 0.2]\n  precision: bf16\n  target: gas\n"),
    ("paint", ["box/snapdir_099", "--model", "m1", "--model", "m2", "--out", "p.hdf5", "--axes", "0", "2",
               "--maps", "--batch-halos", "8", "--min-m200c", "3e13"],
     "paint:\n  box: box/snapdir_099\n  models: [m1, m2]\n  out: p.hdf5\n  axes: [0, 2]\n  maps: true\n"
     "  batch_halos: 8\n  min_m200c: 3.0e13\n"),
    ("synth", ["--out", "u", "--snap", "50", "99", "--files", "2", "--halos", "5"],
     "synth:\n  snapshots: [[50, 1.0], [99, 0.0]]\n  num_files: 2\n  halos: 5\n"),
    ("evaluate", ["--model", "m", "--data", "d.hdf5", "--out", "r", "--input", "dmo=x.hdf5", "--bootstrap", "7"],
     "evaluate:\n  models: [m]\n  data: d.hdf5\n  out: r\n  inputs: {dmo: x.hdf5}\n  bootstrap: 7\n"),
])
def test_a_flag_and_its_yaml_key_give_the_same_options(tmp_path, verb, argv, yaml):
    """One declaration per option (config.option): the flag and the config key must land on the same field
    with the same value, whatever the flag's own name (--lr, --no-augment, --snap, --model)."""
    from mpipaint.cli import build_parser
    from mpipaint.config import cli_values, section

    args = build_parser([verb, *argv]).parse_args([verb, *argv])
    from_flags = section(None, verb, OPTIONS[verb], cli_values(args, OPTIONS[verb], verb), CONFIG_SECTIONS)
    path = tmp_path / "c.yaml"
    path.write_text(yaml)
    assert section(path, verb, OPTIONS[verb], {}, CONFIG_SECTIONS) == from_flags
    assert from_flags != OPTIONS[verb](**REQUIRED_PATHS.get(verb, {}))  # the flags changed something


@pytest.mark.parametrize("verb", [*OPTIONS, "export-fits"])
def test_help_of_every_verb_starts_neither_mpi_nor_tensorflow(verb):
    """`mpipaint VERB --help` on a login node: the flags come from `mpipaint.options`, so neither MPI (whose
    initialisation can hang or fail outside a job) nor TensorFlow is imported to print them."""
    argv = ["jobs", "render", "--help"] if verb == "jobs" else [verb, "--help"]
    probe = ("import sys\nfrom mpipaint.cli import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit as exc:\n"
             "    assert exc.code == 0, exc.code\n"
             "heavy = {'mpi4py', 'tensorflow', 'horovod', 'jax'} & set(sys.modules)\nassert not heavy, heavy\n")
    result = subprocess.run([sys.executable, "-c", probe, *argv], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "usage: mpipaint" in result.stdout
