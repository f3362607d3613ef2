"""Every model family trains a few steps on a CUDA GPU, in fp32 and bf16, with finite losses,
and resumes from its checkpoint (issue 19's GPU test file).

Skipped without CUDA. Run it whenever a GPU is at hand:

    pytest tests/train/test_gpu.py

`GENFORGE_TEST_DEVICE=cpu` runs the same checks on the CPU (fp32 and bf16 autocast), which is
how this file is kept working on machines without a GPU.
"""

from __future__ import annotations

import math
import os

import pytest
import torch

from docs.smoke import python_train_options
from genforge.api import train_run

DEVICE = os.environ.get("GENFORGE_TEST_DEVICE", "cuda")
pytestmark = pytest.mark.skipif(
    DEVICE == "cuda" and not torch.cuda.is_available(), reason="needs a CUDA device"
)

# family -> embedded data it trains on (every family the shared trainer runs)
FAMILIES = {
    "gan": "digits", "dcgan": "digits", "cgan": "digits", "wgan-gp": "digits",
    "hinge-sn": "digits", "vae": "digits", "cvae": "digits", "ddpm": "digits",
    "cddpm": "digits", "t2i": "digits", "attrgan": "sprites", "gpt": "pydoc",
    "lstm": "pydoc", "ctgan": "wine", "tvae": "wine", "wavegan": "tones",
    "cwavegan": "tones", "specvae": "tones", "seq2seq": "country-names:en-ru",
    "gru-seq2seq": "country-names:en-ru", "vdm": "moving-digits", "cvdm": "moving-digits",
    "mocogan": "moving-digits", "cmocogan": "moving-digits",
}  # fmt: skip


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("model", sorted(FAMILIES))
def test_a_family_trains_and_resumes_on_the_device(model: str, precision: str, tmp_path):
    options = python_train_options(model)
    run = train_run(model, FAMILIES[model], name="r", runs_dir=tmp_path, device=DEVICE,
                    precision=precision, steps=2, progress=False,
                    **{"log_every": 1, **options})  # fmt: skip
    assert run.step == 2
    cfg = run.read_config()
    assert cfg["train"]["precision"] == precision and cfg["train"]["device"] == DEVICE
    losses = [v for r in run.metrics() for k, v in r.items() if k.startswith("loss")]
    assert losses and all(math.isfinite(v) for v in losses), losses
    resumed = train_run(resume="r", runs_dir=tmp_path, steps=4, progress=False)
    assert resumed.step == 4
