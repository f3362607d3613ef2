"""Local model folders given to the server (`--model-dir`): listed in GET /v1/models with their
kind; a causal LM generates text over /v1/generate as transformers' generate() does, and a
diffusers text-to-image folder draws the images `genforge generate image --model` draws."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from hf_tiny import save_tiny_chat_gpt2, save_tiny_sd_pipeline

PROMPT = "the cat sat"


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("local-models")
    return {"lm": save_tiny_chat_gpt2(root / "tiny-gpt2", template=None),
            "sd": save_tiny_sd_pipeline(root / "sd")}  # fmt: skip


@pytest.fixture
def runs_dir(tmp_path) -> Path:
    """No runs needed: the models come from folders."""
    return tmp_path / "runs"


def greedy(folder: Path, n: int) -> str:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True).eval()
    x = tok(PROMPT, return_tensors="pt")
    with torch.no_grad():
        out = model.generate(**x, max_new_tokens=n, do_sample=False,
                             pad_token_id=tok.eos_token_id)[0]  # fmt: skip
    return tok.decode(out[x["input_ids"].shape[1] :], skip_special_tokens=True)


def test_model_folders_listed_and_generate_text(make_client, folders):
    c = make_client(model_dirs=(folders["lm"], folders["sd"]))
    listed = {m["name"]: m for m in c.get("/v1/models").json()}
    assert listed["dcgan"]["kind"] == "family"
    assert listed["tiny-gpt2"]["kind"] == "causal-lm" and listed["tiny-gpt2"]["modality"] == "text"
    assert listed["pipe"]["kind"] == "text-to-image"
    assert str(folders["lm"]) not in c.get("/v1/models").text  # server paths stay private
    r = c.post("/v1/generate", json={"model": "tiny-gpt2", "prompt": PROMPT,
                                     "max_new_tokens": 8})  # fmt: skip
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model"] == "tiny-gpt2" and body["run"] is None and body["modality"] == "text"
    out = body["outputs"][0]
    assert out["text"] == greedy(folders["lm"], 8)
    assert out["params"]["local_model"] == "tiny-gpt2"
    assert c.get(out["url"]).text == out["text"]
    sampled = {"model": "tiny-gpt2", "prompt": PROMPT, "n": 2, "seed": 3, "max_new_tokens": 6,
               "decoding": "sampling", "top_k": 20}  # fmt: skip
    a, b = (c.post("/v1/generate", json=sampled).json()["outputs"] for _ in range(2))
    assert [o["text"] for o in a] == [o["text"] for o in b]  # the seed fixes the texts


def test_a_pipeline_folder_draws_what_generate_image_draws(make_client, folders):
    import io

    import numpy as np
    from PIL import Image

    from genforge.generate.providers import LocalPipeline

    c = make_client(model_dirs=(folders["sd"],))
    body = {"model": "pipe", "prompt": "a photo of a cat", "n": 2, "seed": 4, "steps": 2,
            "guidance": 3}  # fmt: skip
    r = c.post("/v1/generate", json=body)
    assert r.status_code == 200, r.text
    reply = r.json()
    assert reply["modality"] == "captioned-image" and reply["model"] == "pipe"
    assert reply["outputs"][0]["params"]["prompt"] == "a photo of a cat"
    served = [np.asarray(Image.open(io.BytesIO(c.get(o["url"]).content)).convert("RGB"))
              for o in reply["outputs"]]  # fmt: skip
    direct = LocalPipeline(folders["sd"], device="cpu").txt2img(
        "a photo of a cat", n=2, seed=4, guidance=3, steps=2
    )
    assert len(served) == len(direct) == 2
    assert all(
        np.array_equal(a, np.asarray(b.convert("RGB"))) for a, b in zip(served, direct, strict=True)
    )


def test_local_model_requests_that_cannot_work(make_client, folders):
    c = make_client(model_dirs=(folders["lm"], folders["sd"]))
    bad = {
        "unknown model": ({"model": "nope", "prompt": "x"}, 404),
        "a path, not a name": ({"model": str(folders["lm"]), "prompt": "x"}, 422),
        "run and model": ({"model": "tiny-gpt2", "run": "dc", "prompt": "x"}, 422),
        "image control": ({"model": "tiny-gpt2", "prompt": "x", "steps": 3}, 400),
        "pipeline without a prompt": ({"model": "pipe", "steps": 2}, 400),
        "pipeline with a text control": ({"model": "pipe", "prompt": "x", "top_k": 3}, 400),
        "over the token limit": ({"model": "tiny-gpt2", "max_new_tokens": 10**6}, 413),
    }
    for name, (body, status) in bad.items():
        r = c.post("/v1/generate", json=body)
        assert r.status_code == status, (name, r.text)


def test_bad_model_dir_is_one_line_error(tmp_path, folders):
    from genforge.core.errors import GenforgeError
    from genforge.serve.local_models import LocalModels

    (tmp_path / "empty").mkdir()
    for folder, msg in [(tmp_path / "missing", "no such folder"),
                        (tmp_path / "empty", "neither a transformers causal LM")]:  # fmt: skip
        with pytest.raises(GenforgeError, match=msg):
            LocalModels((folder,))
    with pytest.raises(GenforgeError, match="another folder is named"):
        LocalModels((folders["lm"], folders["lm"]))
