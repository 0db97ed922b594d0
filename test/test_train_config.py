"""Training configuration: the dataclasses are the schema and hold the shipped recipe.

The one exception is the speaker's landmark source: the defaults read the landmark files any
dataset has, the shipped recipe also sees its synthetic world through the camera view, which
needs tracked renders only a synthetic world has.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from reactface_core.data.dataset import CAMERA_VIEW
from reactface_core.train import TrainConfig

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / "config").glob("train_*.yaml"))
SHIPPED = ROOT / "config" / "train_synth.yaml"
DATA_SOURCE = ("landmarks", "view_share")  # DataConfig keys where the recipe leaves the defaults


def shipped_recipe() -> TrainConfig:
    return TrainConfig.from_dict(yaml.safe_load(SHIPPED.read_text()))


def test_the_shipped_recipe_yaml_says_exactly_what_the_defaults_are_but_the_data_source():
    shipped, default = shipped_recipe(), TrainConfig()
    assert shipped.data.landmarks == CAMERA_VIEW and 0 < shipped.data.view_share < 1
    for key in DATA_SOURCE:
        setattr(shipped.data, key, getattr(default.data, key))
    assert shipped == default


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_key_of_every_training_yaml_is_in_the_schema(path):
    TrainConfig.from_dict(yaml.safe_load(path.read_text()), str(path))  # raises on unknown


def test_a_misspelt_key_is_refused_with_the_known_ones():
    with pytest.raises(
        ValueError, match=r"config: stage1: unknown keys \['epoch'\]; known: .*'epochs'"
    ):
        TrainConfig.from_dict({"stage1": {"epoch": 3}})


def test_a_section_given_in_part_keeps_the_other_shipped_values():
    config = TrainConfig.from_dict({"stage2": {"epochs": 3}, "model": {"dim": 32}})
    assert config.stage2.epochs == 3 and config.stage2.diversity == TrainConfig().stage2.diversity
    assert config.model == {**TrainConfig().model, "dim": 32}


def test_the_published_variant_is_the_paper_two_stage_model():
    published = yaml.safe_load((ROOT / "config" / "train_published.yaml").read_text())
    config = TrainConfig.from_dict(published)
    assert not config.model["posterior"] and not config.model["style_dim"]
    assert not config.model["events"] and not config.model["follow"]
    assert not config.stage1.posterior and not config.stage1.face_dropout
    assert config.stage1.epochs > 0 and config.stage2.epochs > 0
    assert config.stage2.samples == 2 and config.stage2.diversity > 0  # Eq. 6 with M = 2


def test_the_shipped_model_was_trained_with_the_shipped_recipe():
    from reactface_core.checkpoint import load_checkpoint
    from reactface_core.generate import DEFAULT_CHECKPOINT

    recorded = TrainConfig.from_dict(load_checkpoint(DEFAULT_CHECKPOINT).train_config)
    shipped = shipped_recipe()
    # where the data and the run lived is the machine's business, not the recipe's
    recorded.data.root, recorded.output = shipped.data.root, shipped.output
    assert recorded == shipped
