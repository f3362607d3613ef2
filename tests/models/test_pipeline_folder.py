"""Diffusers pipeline folders on disk: what they lack, and the hash of their weights."""

from pathlib import Path

from genforge.models.pipeline_folder import is_pipeline_folder, missing_pipeline_files, weights_hash


def test_the_weights_hash_follows_the_safetensors_files(tmp_path: Path):
    (tmp_path / "unet").mkdir()
    (tmp_path / "unet" / "w.safetensors").write_bytes(b"abc")
    (tmp_path / "unet" / "config.json").write_text("{}")
    first = weights_hash(tmp_path)
    (tmp_path / "unet" / "config.json").write_text('{"x": 1}')
    assert weights_hash(tmp_path) == first  # configs are not weights
    (tmp_path / "unet" / "w.safetensors").write_bytes(b"abd")
    assert weights_hash(tmp_path) != first


def test_missing_files_are_listed(tmp_path: Path):
    assert not is_pipeline_folder(tmp_path)
    assert missing_pipeline_files(tmp_path) == ["model_index.json"]
    (tmp_path / "model_index.json").write_text(
        '{"_class_name": "StableDiffusionPipeline", "unet": ["diffusers", "UNet2DConditionModel"],'
        ' "scheduler": ["diffusers", "DDIMScheduler"], "safety_checker": [null, null]}'
    )
    (tmp_path / "unet").mkdir()
    (tmp_path / "unet" / "diffusion_pytorch_model.bin").write_bytes(b"")
    missing = missing_pipeline_files(tmp_path)
    assert missing[0] == "unet/config.json"
    assert "only pickle .bin weights" in missing[1] and missing[2] == "scheduler/"
