"""The seq2seq family: learns a held-out mapping copying cannot solve, saves a folder plain
transformers loads with identical generations, fine-tunes a local pretrained model fully and
with LoRA, and passes decoding constraints to `generate`."""

from __future__ import annotations

import random
from types import SimpleNamespace

import pytest
import torch

from genforge.core.errors import GenforgeError
from genforge.data.text_pairs import encode_pairs, fit_pair_tokenizer, pair_spec
from genforge.evaluate.seq2seq import seq2seq_scores
from genforge.models.gru_seq2seq import GRUSeq2Seq, GRUSeq2SeqConfig
from genforge.models.seq2seq import DecodeConfig, Seq2Seq, Seq2SeqConfig

WORDS = ["ka", "lo", "mi", "su", "te", "ra", "no", "pi"]
MEANING = dict(zip(WORDS, ["BAV", "DOR", "FEK", "GUS", "HIM", "JOL", "KUP", "LEZ"], strict=True))
ACC = SimpleNamespace(backward=lambda loss: loss.backward())


def _word_pairs(seed: int = 0) -> list[tuple[str, str]]:
    """A toy translation: every word has its own meaning, order kept; copying gets nothing."""
    rng = random.Random(seed)
    pairs = set()
    while len(pairs) < 560:
        s = rng.choices(WORDS, k=4)
        pairs.add((" ".join(s), " ".join(MEANING[w] for w in s)))
    return sorted(pairs)


def _fit(model, pairs, steps: int, lr: float = 3e-3, seed: int = 0) -> float:
    rng = random.Random(seed)
    opt = torch.optim.AdamW([p for p in model.net.parameters() if p.requires_grad], lr=lr)
    model.net.train()
    for _ in range(steps):
        batch = encode_pairs(model.tokenizer, rng.sample(pairs, min(32, len(pairs))), 64)
        logs = model.training_step({"net": model.net}, {"net": opt}, lambda b=batch: (b, None),
                                   ACC)  # fmt: skip
    return float(logs["loss"])


def _spec(train, vocab: int = 60):
    return pair_spec(fit_pair_tokenizer(train, vocab), 64)


@pytest.fixture(scope="module")
def trained():
    torch.manual_seed(0)
    pairs = _word_pairs()
    train, val = pairs[40:], pairs[:40]
    model = Seq2Seq(Seq2SeqConfig(size="micro", dropout=0.0), _spec(train))
    _fit(model, train, steps=400)
    return model, train, val


def test_learns_a_held_out_mapping_that_copying_cannot_solve(trained):
    model, train, val = trained
    assert not {s for s, _ in train} & {s for s, _ in val}
    hyp = model.translate([s for s, _ in val], DecodeConfig(num_beams=2, max_new_tokens=24))
    s = seq2seq_scores([s for s, _ in val], hyp, [t for _, t in val], [t for _, t in train])
    assert s["bleu"] > s["copy_source_bleu"] + 30 and s["chrf"] > s["copy_source_chrf"] + 20


def test_label_smoothing_shapes_the_training_loss_only(trained):
    model, train, _ = trained
    batch = encode_pairs(model.tokenizer, train[:8], 64)
    src, labels = model.unpack(batch)
    model.net.eval()
    with torch.no_grad():
        mask = (src != model.spec.pad_id).long()
        logp = model.net(input_ids=src, attention_mask=mask, labels=labels).logits.log_softmax(-1)
        keep = labels != -100
        nll = -logp.gather(-1, labels.clamp(min=0)[..., None])[..., 0][keep].mean()
        uniform = -logp.mean(-1)[keep].mean()  # cross-entropy against the uniform distribution
        assert float(model.loss(model.net, src, labels)) == pytest.approx(float(nll), rel=1e-4)
        smooth = float(model.loss(model.net, src, labels, smoothing=0.1))
        assert smooth == pytest.approx(float(0.9 * nll + 0.1 * uniform), rel=1e-4)
        total, n = model.heldout_loss(batch)
        assert total / n == pytest.approx(float(nll), rel=1e-4)  # held-out: never smoothed
    assert smooth > float(nll) + 0.1  # a trained model is far from uniform
    # the trainer's step uses the configured smoothing (lr 0: nothing moves)
    assert Seq2SeqConfig().label_smoothing == 0.1 and GRUSeq2SeqConfig().label_smoothing == 0.0
    was, model.config.label_smoothing = model.config.label_smoothing, 0.1
    try:
        opt = torch.optim.SGD(model.net.parameters(), lr=0.0)
        logs = model.training_step({"net": model.net}, {"net": opt}, lambda: (batch, None), ACC)
    finally:
        model.config.label_smoothing = was
    assert float(logs["loss"]) == pytest.approx(smooth, rel=1e-4)


def test_saved_folder_loads_in_plain_transformers_with_identical_outputs(trained, tmp_path):
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    model, _, val = trained
    model.save_extra(tmp_path, None)
    assert (tmp_path / "hf" / "model.safetensors").exists()
    hf = AutoModelForSeq2SeqLM.from_pretrained(tmp_path / "hf").eval()
    tok = AutoTokenizer.from_pretrained(tmp_path / "hf")
    texts = [s for s, _ in val[:5]]
    d = DecodeConfig(num_beams=3, max_new_tokens=24)
    enc = tok(texts, return_tensors="pt", padding=True)
    ids = hf.generate(**enc, **model.generate_kwargs(d))
    plain = [t.strip() for t in tok.batch_decode(ids, skip_special_tokens=True)]
    assert plain == model.translate(texts, d)
    assert Seq2Seq.from_folder(tmp_path / "hf").translate(texts, d) == plain


def test_decoding_constraints_reach_generate(trained):
    model, _, val = trained
    src = val[0][0]
    first = model.translate([src])[0].split()[0]
    banned = model.translate([src], DecodeConfig(bad_words=[" " + first], max_new_tokens=24))
    assert first not in banned[0].split()
    with pytest.raises(GenforgeError, match="constrained beam search"):
        model.translate([src], DecodeConfig(force_words=[" ka"]))
    sampled = model.translate([src] * 2, DecodeConfig(do_sample=True, num_beams=1, seed=1))
    assert len(sampled) == 2 and all(sampled)


def _tiny_t5(tokenizer, folder):
    from transformers import T5Config, T5ForConditionalGeneration

    cfg = T5Config(vocab_size=len(tokenizer), d_model=32, d_kv=8, d_ff=64, num_layers=1,
                   num_heads=2, pad_token_id=tokenizer.pad_token_id,
                   eos_token_id=tokenizer.eos_token_id,
                   decoder_start_token_id=tokenizer.pad_token_id)  # fmt: skip
    T5ForConditionalGeneration(cfg).save_pretrained(folder)
    tokenizer.save_pretrained(folder)


@pytest.mark.parametrize(
    ("arch", "finetune"), [("marian", "full"), ("marian", "lora"), ("t5", "full"), ("t5", "lora")]
)
def test_init_fine_tunes_a_local_pretrained_model(trained, tmp_path, arch, finetune):
    model, train, _ = trained
    if arch == "t5":
        _tiny_t5(model.tokenizer, tmp_path / "base")
    else:
        scratch = Seq2Seq(Seq2SeqConfig(size="micro"), model.spec)
        scratch.save_extra(tmp_path, None)
        (tmp_path / "hf").rename(tmp_path / "base")
    spec = pair_spec(model.tokenizer, 64, "pretrained")
    tuned = Seq2Seq(Seq2SeqConfig(init=str(tmp_path / "base"), finetune=finetune), spec)
    before = {k: v.clone() for k, v in tuned.net.named_parameters() if v.requires_grad}
    trainable = sum(v.numel() for v in before.values())
    total = sum(v.numel() for v in tuned.net.parameters())
    assert (trainable < total / 2) if finetune == "lora" else (trainable == total)
    _fit(tuned, train, steps=3)
    after = dict(tuned.net.named_parameters())
    assert any(not torch.equal(before[k], after[k]) for k in before)
    tuned.save_extra(tmp_path / "out", None)
    assert (tmp_path / "out" / "adapter").exists() == (finetune == "lora")
    texts = [s for s, _ in train[:3]]
    reloaded = Seq2Seq.from_folder(tmp_path / "out" / "hf")
    assert reloaded.translate(texts) == tuned.translate(texts)  # LoRA merged, same outputs


def test_init_without_a_model_folder_is_a_one_line_error(trained, tmp_path):
    model = trained[0]
    with pytest.raises(GenforgeError, match="no config.json"):
        Seq2Seq(Seq2SeqConfig(init=str(tmp_path)), model.spec)
    with pytest.raises(GenforgeError, match="LoRA fine-tunes"):
        Seq2Seq(Seq2SeqConfig(finetune="lora"), model.spec)


def test_gru_baseline_learns_the_mapping_and_decodes_greedy_beam_and_sampled():
    torch.manual_seed(0)
    pairs = _word_pairs()
    train, val = pairs[40:], pairs[:40]
    model = GRUSeq2Seq(GRUSeq2SeqConfig(emb_dim=32, hidden=64, dropout=0.0), _spec(train))
    _fit(model, train, steps=250, lr=1e-2)
    sources, refs = [s for s, _ in val], [t for _, t in val]
    greedy = model.translate(sources, DecodeConfig(num_beams=1, max_new_tokens=24))
    beams = model.translate(sources, DecodeConfig(num_beams=3, max_new_tokens=24))
    for hyp in (greedy, beams):
        s = seq2seq_scores(sources, hyp, refs)
        assert s["chrf"] > s["copy_source_chrf"] + 10
    sampled = model.translate(sources[:2], DecodeConfig(do_sample=True, top_p=0.9, seed=1))
    assert len(sampled) == 2
    with pytest.raises(GenforgeError, match="GRU baseline"):
        model.translate(sources[:1], DecodeConfig(bad_words=["ka"]))
