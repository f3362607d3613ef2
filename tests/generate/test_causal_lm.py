"""CausalLMPipeline: a local transformers causal LM folder decodes as transformers' own
`generate()` does, with the seeds of text runs (sample j of prompt i: seed + 1000 i + j)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from genforge.core.errors import GenforgeError
from genforge.generate.causal_lm import CausalLMPipeline
from genforge.generate.text import DecodeOptions
from hf_tiny import save_tiny_chat_gpt2


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return save_tiny_chat_gpt2(tmp_path_factory.mktemp("lm") / "gpt2", template=None)


def test_prompts_seeds_and_context_as_for_runs(folder: Path):
    pipe = CausalLMPipeline(folder)
    tok, model = pipe.tokenizer.hf(), pipe.hf
    prompts = ["hello there", "the mat"]
    opts = DecodeOptions(do_sample=True, top_p=0.8, max_new_tokens=6, num_return_sequences=2,
                         seed=7)  # fmt: skip
    outs = pipe.generate(prompts, opts)
    for i, p in enumerate(prompts):
        x = tok(p, return_tensors="pt")
        for j, g in enumerate(outs[i]):
            assert g.seed == 7 + 1000 * i + j
            torch.manual_seed(g.seed)
            ref = model.generate(**x, do_sample=True, top_p=0.8, top_k=0, max_new_tokens=6,
                                 pad_token_id=tok.eos_token_id)[0]  # fmt: skip
            assert g.text == tok.decode(ref[x["input_ids"].shape[1] :], skip_special_tokens=True)
    assert pipe.context == 64
    empty = pipe.generate([""], DecodeOptions(max_new_tokens=3))[0][0]  # starts from <|end|>
    assert empty.new_tokens <= 3
    with pytest.raises(GenforgeError, match="exceed the model's context of 64"):
        pipe.generate(["hello"], DecodeOptions(max_new_tokens=200))
