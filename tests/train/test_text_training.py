"""How language models train: random window starts, the split by position or document, AdamW
without decay on biases and norms, the LR floor, compile on CUDA only, held-out loss during
training (--eval-every, --keep-best val_loss) and what the model card says of it all."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from genforge.core.errors import GenforgeError
from genforge.data.modalities import get_modality
from genforge.data.text import TextDataConfig, TextDataset, load_corpus, split_texts
from genforge.data.text_tokenizers import make_tokenizer
from genforge.train.batches import Batches, WindowBatches, make_batches
from genforge.train.config import TrainConfig
from genforge.train.trainer import lr_lambda, make_optimizer, wants_compile
from textkit import make_docs, make_folder, tiny_run

CPU = torch.device("cpu")


def stream_dataset(n_tokens: int, block_size: int, sampling: str = "random") -> TextDataset:
    """One document whose token i is i (the last is the EOS), so a window's first token is its
    start position."""
    return TextDataset("t", ["x"], [np.arange(n_tokens, dtype=np.int32)], None, block_size,
                       block_size // 2, None, sampling=sampling)  # fmt: skip


def test_window_starts_cover_every_position_uniformly():
    ds = stream_dataset(200, block_size=16)
    b = WindowBatches(ds, batch_size=64, seed=0, device=CPU)
    batches = [b()[0] for _ in range(300)]
    x = torch.cat(batches)
    assert x.shape == (300 * 64, 17)
    starts = x[:, 0]
    # every window is the stream itself from its start: 17 consecutive tokens
    assert torch.equal(x, starts[:, None] + torch.arange(17))
    num_starts = 200 - 17 + 1
    counts = torch.bincount(starts, minlength=num_starts).double()
    assert len(counts) == num_starts and (counts > 0).all()  # every start, the last included
    # uniform: a chi-square test at 184 - 1 degrees of freedom (p < 1e-6 beyond ~290)
    expected = len(starts) / num_starts
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 < 290, chi2
    # not the fixed windows of the strided sampler: most starts are off its stride of 8
    assert (starts % 8 != 0).double().mean() > 0.8


def test_window_batches_resume_exactly_and_differ_per_process():
    ds = stream_dataset(500, block_size=32)
    a = WindowBatches(ds, 8, seed=1, device=CPU)
    for _ in range(5):
        a()
    state = a.state_dict()
    expected = [a()[0] for _ in range(4)]
    again = WindowBatches(ds, 8, seed=1, device=CPU)
    again.load_state_dict(state)
    assert all(torch.equal(e, again()[0]) for e in expected)
    other_rank = WindowBatches(ds, 8, seed=1, device=CPU, rank=1, world_size=2)
    other_seed = WindowBatches(ds, 8, seed=2, device=CPU)
    first = WindowBatches(ds, 8, seed=1, device=CPU)()[0]
    assert not torch.equal(first, other_rank()[0]) and not torch.equal(first, other_seed()[0])


def test_make_batches_picks_the_sampler_and_short_text_is_one_line_error():
    assert isinstance(make_batches(stream_dataset(100, 8), 4, 0, CPU), WindowBatches)
    assert isinstance(make_batches(stream_dataset(100, 8, "strided"), 4, 0, CPU), Batches)
    with pytest.raises(GenforgeError, match="fewer than one window"):
        make_batches(stream_dataset(10, 16), 4, 0, CPU)


def test_split_auto_tail_for_one_document_documents_for_many(tmp_path):
    book = tmp_path / "book.txt"
    book.write_text("\n".join(make_docs(20)))
    one = load_corpus(TextDataConfig(source=str(book)))
    many = load_corpus(TextDataConfig(source=str(make_folder(tmp_path / "f", n=20))))
    for corpus, how in ((one, "tail"), (many, "documents")):
        ds = TextDataset.build(corpus, make_tokenizer("char", corpus.docs), 16)
        tr, va = ds.split(0.1, seed=0)
        assert tr.split_how == va.split_how == how
        assert tr.num_tokens > 5 * va.num_tokens > 0
    tr, va = split_texts(one.docs, 0.1, 0)
    assert tr[0] + va[0] == one.docs[0] and not va[0].startswith(" ")  # cut at a line break


def test_split_tail_on_many_documents_holds_out_each_ones_end(tmp_path):
    corpus = load_corpus(TextDataConfig(source=str(make_folder(tmp_path / "f", n=6))))
    tr, va = split_texts(corpus.docs, 0.25, 0, "tail")
    assert len(tr) == len(va) == 6
    for doc, a, b in zip(corpus.docs, tr, va, strict=True):
        assert a + b == doc and 0.15 < len(b) / len(doc) < 0.35
    ds = TextDataset.build(corpus, make_tokenizer("char", corpus.docs), 16, split="tail")
    dtr, dva = ds.split(0.25)
    assert dtr.docs == tr and dva.docs == va and dva.split_how == "tail"
    with pytest.raises(GenforgeError, match="unknown text split 'halves'"):
        TextDataset.build(corpus, make_tokenizer("char", corpus.docs), 16, split="halves")


def test_eval_windows_do_not_overlap():
    ds = stream_dataset(100, block_size=10)
    w = ds.eval_windows()
    assert w.shape == (9, 11)
    assert torch.equal(w[:, 0], torch.arange(0, 90, 10))  # a new window every block_size
    assert ds.eval_windows(3).shape == (3, 11)


def test_adamw_decays_matrices_only():
    net = torch.nn.Sequential(torch.nn.Embedding(10, 4), torch.nn.Linear(4, 4),
                              torch.nn.LayerNorm(4))  # fmt: skip
    opt = make_optimizer(net.parameters(), TrainConfig(optimizer="adamw", weight_decay=0.1), 1e-3)
    decay = {id(p): g["weight_decay"] for g in opt.param_groups for p in g["params"]}
    assert decay[id(net[0].weight)] == decay[id(net[1].weight)] == 0.1
    assert decay[id(net[1].bias)] == decay[id(net[2].weight)] == decay[id(net[2].bias)] == 0.0
    assert len(decay) == 5
    adam = make_optimizer(net.parameters(), TrainConfig(optimizer="adam", weight_decay=0.1), 1e-3)
    assert all(g["weight_decay"] == 0.1 for g in adam.param_groups)


def test_cosine_schedule_warms_up_and_ends_at_the_floor():
    f = lr_lambda(TrainConfig(steps=1000, warmup_steps=100, lr_schedule="cosine",
                              min_lr_ratio=0.1))  # fmt: skip
    assert f(0) == pytest.approx(0.01) and f(99) == pytest.approx(1.0)
    assert f(100) == pytest.approx(1.0) and f(550) == pytest.approx(0.55)
    assert f(1000) == pytest.approx(0.1) and f(5000) == pytest.approx(0.1)
    assert lr_lambda(TrainConfig(steps=10, lr_schedule="cosine"))(10) == pytest.approx(0.0)


def test_compile_auto_means_cuda_only():
    auto = TrainConfig(compile="auto")
    assert wants_compile(auto, torch.device("cuda")) and not wants_compile(auto, CPU)
    assert wants_compile(TrainConfig(compile=True), CPU)
    assert not wants_compile(TrainConfig(compile=False), torch.device("cuda"))


def test_text_run_records_the_split_and_keeps_the_best_val_loss(tmp_path):
    book = tmp_path / "book.txt"
    book.write_text("\n".join(make_docs(40)))
    hook = get_modality("text").handler("train_eval")  # what the CLI and genforge.api pass
    run = tiny_run("gpt", book, tmp_path / "runs", "lm", steps=6, eval_every=3,
                   keep_best="val_loss", lr=3e-3, evaluate=hook)  # fmt: skip
    report = json.loads(run.data_report_path.read_text())
    assert report["split_how"] == "tail" and report["sampling"] == "random"
    total = len("\n".join(make_docs(40))) + 1  # one EOS after the document
    assert report["train_tokens"] + report["val_tokens"] == total + 1  # and one after the tail
    losses = [r["eval_val_loss"] for r in run.metrics() if "eval_val_loss" in r]
    assert len(losses) == 2 and all(0 < v < 10 for v in losses)
    best = json.loads((run.best_dir / "best.json").read_text())
    assert best["value"] == pytest.approx(min(losses))
    card = (run.path / "README.md").read_text()
    assert "split by position: the last 10% of each document is held out" in card
    assert "starts at a random token" in card and "tokens/s" in card
