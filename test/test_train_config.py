"""Training configuration: the dataclasses are the schema and hold the shipped recipe."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from reactface_core.train import TrainConfig

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / "config").glob("train_*.yaml"))


def test_the_shipped_recipe_yaml_says_exactly_what_the_defaults_are():
    shipped = yaml.safe_load((ROOT / "config" / "train_synth.yaml").read_text())
    assert TrainConfig.from_dict(shipped) == TrainConfig()


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
    shipped = TrainConfig()
    # where the data and the run lived is the machine's business, not the recipe's
    recorded.data.root, recorded.output = shipped.data.root, shipped.output
    assert recorded == shipped
