"""Every shipped config loads and validates against the options of its verbs."""
from pathlib import Path

import pytest

from mpipaint.cli import CONFIG_SECTIONS
from mpipaint.config import build, load_yaml
from mpipaint.demo import DemoOptions
from mpipaint.evaluate import EvaluateOptions
from mpipaint.paint import PaintOptions
from mpipaint.prepare import PrepareOptions
from mpipaint.select import SelectOptions
from mpipaint.synth import SynthConfig
from mpipaint.train import TrainOptions

OPTIONS = {"synth": SynthConfig, "select": SelectOptions, "prepare": PrepareOptions, "train": TrainOptions, "paint": PaintOptions,
           "evaluate": EvaluateOptions, "calibrate": EvaluateOptions, "demo": DemoOptions}
REQUIRED_PATHS = {"select": {"source": "x", "out": "y"}, "prepare": {"run": "x", "halos": "y", "out": "z"},
                  "train": {"data": "x", "out": "y"}, "paint": {"box": "x", "models": ["m"], "out": "y"},
                  "evaluate": {"models": ["m"], "data": "x", "out": "y"},
                  "calibrate": {"models": ["m"], "data": "x", "out": "y"}}
CONFIGS = sorted((Path(__file__).parents[1] / "configs").glob("*.yaml"))


def test_every_verb_with_a_config_section_has_options():
    assert set(CONFIG_SECTIONS) == set(OPTIONS)


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_shipped_config_validates(path):
    data = load_yaml(path)
    assert data and set(data) <= set(OPTIONS)
    for name, values in data.items():
        build(OPTIONS[name], {**REQUIRED_PATHS.get(name, {}), **values}, f"{path}:{name}")
