"""The one modality table: every entry is complete, its handlers resolve to the layer their
role belongs to, every registered model names an entry, and `load_split` rebuilds exactly the
split training made."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from genforge.core.errors import GenforgeError
from genforge.data.modalities import MODALITIES, ROLES, TASKS, get_modality
from genforge.models import MODELS, modality_of

# the package each role's handler lives in (its layer)
ROLE_PACKAGE = {
    "pipeline": "genforge.generate",
    "evaluator": "genforge.evaluate",
    "preview": "genforge.train",
    "train_eval": "genforge.evaluate",
    "sample": "genforge.cli",
    "serve": "genforge.serve",
}


@pytest.mark.parametrize("name", sorted(MODALITIES))
def test_each_modality_is_complete_and_its_handlers_resolve(name):
    m = get_modality(name)
    assert m.name == name
    assert "source" in {f.name for f in dataclasses.fields(m.data_config)}
    assert hasattr(m.spec_type, "from_dict") and m.is_embedded(m.default_data)
    assert m.unit in ("images", "tokens", "rows", "clips", "pairs")
    assert set(m.handlers) <= set(ROLES)
    assert {"pipeline", "evaluator", "preview", "sample", "serve"} <= set(m.handlers)
    for role in ROLES:
        handler = m.handler(role)
        if role not in m.handlers:
            assert handler is None
            continue
        assert handler is not None, f"{name}: {role} -> {m.handlers[role]}"
        module = m.handlers[role].split(":")[0]
        assert module.startswith(ROLE_PACKAGE[role] + "."), (name, role, module)


def test_every_model_names_a_modality_and_declares_a_task():
    for name, entry in MODELS.items():
        assert entry.modality in MODALITIES, name
        assert entry.family.task in TASKS, name
    translate = {n for n, e in MODELS.items() if e.family.task == "translate"}
    assert translate == {"cyclegan", "pix2pix"}
    assert {n for n, e in MODELS.items() if e.modality == "image-pair"} == translate


def test_unknown_names_are_one_line_errors():
    with pytest.raises(GenforgeError, match="unknown modality 'hologram'; known: audio, "):
        get_modality("hologram")
    with pytest.raises(GenforgeError, match="unknown handler role 'train'"):
        get_modality("image").handler("train")
    with pytest.raises(GenforgeError, match="model 'old-gan', which is not registered"):
        modality_of({"name": "r", "model": "old-gan", "modality": "image"})


def test_runs_of_translation_models_written_as_image_runs_read_as_image_pairs():
    """Runs of cyclegan/pix2pix from before the image-pair entry recorded "image"."""
    assert modality_of({"model": "cyclegan", "modality": "image"}).name == "image-pair"
    assert modality_of({"model": "dcgan"}).name == "image"


def test_load_split_rebuilds_the_training_split():
    m = get_modality("image")
    cfg = {"data": {"source": "digits", "image_size": 8, "val_fraction": 0.2, "unknown": 1},
           "train": {"seed": 3}}  # fmt: skip
    split = m.load_split(cfg)
    dataset = m.load(m.data_config(source="digits", image_size=8, val_fraction=0.2), seed=3)
    train, val = dataset.split(0.2, seed=3)
    assert torch.equal(split.train.images, train.images)
    assert torch.equal(split.val.labels, val.labels)
    assert len(split.val) == round(0.2 * len(dataset))
    assert m.spec_of(split.dataset).to_dict() == m.spec_of(dataset).to_dict()


def test_text_windows_count_tokens_for_throughput():
    text = get_modality("text")
    spec = text.spec_type(vocab_size=50, block_size=64, tokenizer="char", eos_id=0)
    assert text.units_per_item(spec) == 64
    assert get_modality("table").units_per_item(None) == 1
