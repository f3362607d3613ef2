"""GPT and LSTM families: tiny runs train, a GPT run loads with plain transformers, a local
pretrained model fine-tunes fully or with LoRA, a wrong tokenizer fails in one line."""

from __future__ import annotations

import pytest
import torch

from genforge.core.errors import GenforgeError
from genforge.data.text_tokenizers import make_tokenizer
from textkit import make_docs, make_folder, tiny_run


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_folder(tmp_path_factory.mktemp("corpus"))


def test_gpt_run_loads_with_transformers(corpus, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from genforge.generate.text import TextPipeline

    run = tiny_run("gpt", corpus, tmp_path, "g")
    assert (run.samples_dir / "latest.txt").read_text().startswith("# g step 2")
    hf = run.model_dir / "hf"
    model = AutoModelForCausalLM.from_pretrained(hf).eval()
    tok = AutoTokenizer.from_pretrained(hf)
    text = "the model learns"
    ids = tok(text).input_ids
    pipe = TextPipeline(run)
    assert ids == pipe.tokenizer.encode(text)
    assert tok.decode(ids) == text
    with torch.no_grad():
        a = model(torch.tensor([ids])).logits
        b = pipe.hf(torch.tensor([ids])).logits
    assert torch.allclose(a, b, atol=1e-5)


def test_gpt_loss_goes_down(corpus, tmp_path):
    run = tiny_run("gpt", corpus, tmp_path, "g", steps=30, log_every=5, lr=3e-3)
    losses = [r["loss"] for r in run.metrics() if "loss" in r]
    assert losses[-1] < losses[0] - 0.5


def test_lstm_trains_and_samples(corpus, tmp_path):
    from genforge.generate.text import DecodeOptions, TextPipeline

    run = tiny_run("lstm", corpus, tmp_path, "l", tokenizer="bpe", vocab_size=300)
    out = TextPipeline(run).generate(["the"], DecodeOptions(do_sample=True, max_new_tokens=12))
    assert out[0][0].new_tokens > 0


def _tiny_pretrained(path, docs):
    """A tiny GPT-2 and its tokenizer saved like a downloaded model (built here, offline)."""
    from transformers import GPT2Config, GPT2LMHeadModel

    tok = make_tokenizer("bpe", docs, vocab_size=300)
    cfg = GPT2Config(vocab_size=tok.vocab_size, n_positions=64, n_embd=32, n_layer=2, n_head=2,
                     eos_token_id=tok.eos_id, bos_token_id=tok.eos_id)  # fmt: skip
    GPT2LMHeadModel(cfg).save_pretrained(path)
    tok.save_hf(path)
    return path


@pytest.mark.parametrize("finetune", ["full", "lora"])
def test_finetune_local_pretrained(corpus, tmp_path, finetune):
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    base = _tiny_pretrained(tmp_path / "base", make_docs(30))
    run = tiny_run("gpt", corpus, tmp_path / "runs", "ft", init=str(base), tokenizer=str(base),
                   finetune=finetune, lr=1e-2)  # fmt: skip
    before = load_file(base / "model.safetensors")
    after = AutoModelForCausalLM.from_pretrained(run.model_dir / "hf").state_dict()
    key = "transformer.h.0.attn.c_attn.weight"
    assert not torch.allclose(before[key], after[key])  # trained (LoRA: merged into the weights)
    if finetune == "lora":
        assert (run.model_dir / "adapter" / "adapter_config.json").exists()
        # LoRA leaves the MLP untouched
        k = "transformer.h.0.mlp.c_fc.weight"
        assert torch.allclose(before[k], after[k])


def test_tokenizer_mismatch_with_pretrained_model(corpus, tmp_path):
    base = _tiny_pretrained(tmp_path / "base", ["ab"] * 3)  # byte-level, 257 tokens
    big = make_tokenizer("bpe", make_docs(30), vocab_size=400)
    big.save_hf(tmp_path / "bigtok")
    with pytest.raises(GenforgeError, match="tokenizer mismatch"):
        tiny_run(
            "gpt",
            corpus,
            tmp_path / "runs",
            "bad",
            init=str(base),
            tokenizer=str(tmp_path / "bigtok"),
        )
    with pytest.raises(GenforgeError, match="LoRA fine-tunes a pretrained model"):
        tiny_run("gpt", corpus, tmp_path / "runs", "bad2", finetune="lora")


@pytest.mark.parametrize("model", ["gpt", "lstm"])
def test_resume_matches_an_uninterrupted_run(corpus, tmp_path, model):
    from safetensors.torch import load_file

    from genforge.train.launch import train

    runs = tmp_path / "runs"
    opts = {"steps": 4, "checkpoint_every": 100, "sample_every": 100, "dropout": 0.1}
    full = tiny_run(model, corpus, runs, "full", **opts)
    part = tiny_run(model, corpus, runs, "part", stop_after=2, **opts)
    assert part.step == 2
    resumed = train(resume="part", runs_dir=runs, steps=4)
    assert resumed.step == 4
    wf = load_file(full.model_dir / "model.safetensors")
    wr = load_file(resumed.model_dir / "model.safetensors")
    for k in wf:
        assert torch.equal(wf[k], wr[k]), k
