"""`genforge generate text --model FOLDER`: a local transformers causal LM decodes exactly as
transformers' own `generate()` does for the same arguments; a wrong folder is one line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from hf_tiny import save_tiny_chat_gpt2, save_tiny_clip

PROMPT = "the cat sat"


@pytest.fixture(scope="module")
def lm_folder(tmp_path_factory) -> Path:
    return save_tiny_chat_gpt2(tmp_path_factory.mktemp("lm") / "tiny-gpt2", template=None)


def reference(folder: Path, seed: int | None = None, **kwargs) -> str:
    """The continuation transformers' own generate() gives for `kwargs`."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True).eval()
    x = tok(PROMPT, return_tensors="pt")
    if seed is not None:
        torch.manual_seed(seed)
    with torch.no_grad():
        out = model.generate(**x, pad_token_id=tok.eos_token_id, **kwargs)[0]
    return tok.decode(out[x["input_ids"].shape[1] :], skip_special_tokens=True)


def texts(cli, folder: Path, *args: str) -> list[dict]:
    out = cli.ok("generate", "text", "--model", folder, "--prompt", PROMPT, "--json", *args)
    return [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]


def test_greedy_and_beams_equal_transformers_generate(cli, lm_folder: Path):
    got = texts(cli, lm_folder, "--max-new-tokens", "12")
    assert len(got) == 1 and got[0]["seed"] is None
    assert got[0]["text"] == reference(lm_folder, max_new_tokens=12, do_sample=False)
    got = texts(cli, lm_folder, "--max-new-tokens", "10", "--num-beams", "3",
                "--no-repeat-ngram-size", "2", "--n", "2")  # fmt: skip
    ref = reference(lm_folder, max_new_tokens=10, num_beams=3, no_repeat_ngram_size=2,
                    do_sample=False)  # fmt: skip
    assert len(got) == 2 and got[0]["text"] == ref


def test_seeded_sampling_equals_transformers_generate(cli, lm_folder: Path, tmp_path: Path):
    out = tmp_path / "texts.txt"
    args = ["--do-sample", "--temperature", "0.7", "--top-k", "20", "--top-p", "0.9",
            "--max-new-tokens", "15", "--seed", "5", "--n", "2", "--out", str(out)]  # fmt: skip
    got = texts(cli, lm_folder, *args)
    assert [g["seed"] for g in got] == [5, 6]  # sample j uses seed + j, as for runs
    for g in got:
        assert g["text"] == reference(lm_folder, seed=g["seed"], max_new_tokens=15,
                                      do_sample=True, temperature=0.7, top_k=20, top_p=0.9)  # fmt: skip
    assert texts(cli, lm_folder, *args) == got  # the seed fixes the texts
    assert out.read_bytes().decode().startswith(PROMPT + got[0]["text"])


def test_min_tokens_repetition_stop_watermark_stream(cli, lm_folder: Path):
    got = texts(cli, lm_folder, "--max-new-tokens", "8", "--min-new-tokens", "8",
                "--repetition-penalty", "1.3")  # fmt: skip
    assert got[0]["new_tokens"] == 8
    assert got[0]["text"] == reference(lm_folder, max_new_tokens=8, min_new_tokens=8,
                                       repetition_penalty=1.3)  # fmt: skip
    full = got[0]["text"]
    if len(full) > 3:
        stop = full[2:4]
        cut = texts(cli, lm_folder, "--max-new-tokens", "8", "--min-new-tokens", "8",
                    "--repetition-penalty", "1.3", "--stop", stop)  # fmt: skip
        assert cut[0]["text"] == full[: full.index(stop)]
    marked = texts(cli, lm_folder, "--max-new-tokens", "8", "--do-sample", "--watermark")
    assert len(marked) == 1
    streamed = cli.ok("generate", "text", "--model", lm_folder, "--prompt", PROMPT,
                      "--max-new-tokens", "6", "--stream").stdout  # fmt: skip
    assert reference(lm_folder, max_new_tokens=6) in streamed


def test_wrong_folders_are_one_line_errors(cli, lm_folder: Path, tmp_path: Path):
    from transformers import AutoModelForCausalLM

    assert "no such model folder" in cli.fails("generate", "text", "--model", tmp_path / "nope")
    clip = save_tiny_clip(tmp_path / "clip")
    assert "not a causal language model" in cli.fails("generate", "text", "--model", clip)
    pickled = tmp_path / "pickled"
    model = AutoModelForCausalLM.from_pretrained(lm_folder, local_files_only=True)
    pickled.mkdir()
    for f in [lm_folder / "config.json", *lm_folder.glob("tokenizer*")]:
        shutil.copy(f, pickled)
    torch.save(model.state_dict(), pickled / "pytorch_model.bin")  # written, never read
    assert "only pickled weights (.bin)" in cli.fails("generate", "text", "--model", pickled)
    no_tok = tmp_path / "no-tokenizer"
    model.save_pretrained(no_tok)
    assert "has no tokenizer" in cli.fails("generate", "text", "--model", no_tok)
    assert "one of them" in cli.fails("generate", "text")
    msg = cli.fails("generate", "text", "--model", lm_folder, "--do-sample", "--gate", "learned")
    assert "--gate learned needs a text run's fitted gate" in msg


def test_text_gate_scores_with_the_folders_own_model(cli, lm_folder: Path):
    """best-of-k under the auto gate: fluency from the folder's model, repetition, limits."""
    from genforge.evaluate.text_gate import FolderTextGate
    from genforge.generate.causal_lm import CausalLMPipeline

    args = ["--do-sample", "--seed", "2", "--max-new-tokens", "8", "--best-of", "3",
            "--min-words", "1"]  # fmt: skip
    got = texts(cli, lm_folder, *args)
    candidates = texts(cli, lm_folder, "--do-sample", "--seed", "2", "--max-new-tokens", "8",
                       "--n", "3")  # fmt: skip
    gate = FolderTextGate(CausalLMPipeline(lm_folder))
    verdicts = gate.score([c["text"] for c in candidates])
    ok = [v for v in verdicts if not v.rejected]
    assert len(got) == (1 if ok else 0)
    if ok:
        best = max(ok, key=lambda v: v.score)
        assert got[0]["text"] == best.text and got[0]["score"] == round(best.score, 4)
        assert 0 < best.components["fluency"] <= 1
