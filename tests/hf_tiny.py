"""Tiny random transformers text encoders written to a folder inside the tests (no downloads):
a word-level tokenizer (tokenizers' WordLevel in a PreTrainedTokenizerFast) plus a CLIP text
model or a BERT model, both saved with `save_pretrained` (safetensors)."""

from __future__ import annotations

from pathlib import Path

import torch

DIGIT_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
WORDS = ["a", "handwritten", *DIGIT_WORDS, "cat", "wearing", "hat", "photo", "of"]
SPECIALS = ["<pad>", "<unk>", "<bos>", "<eos>"]  # ids 0..3


def word_tokenizer(words: list[str] = WORDS, max_length: int = 16):
    """A lower-casing whitespace tokenizer: "<bos> w1 w2 <eos>", padded with <pad> (id 0)."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate([*SPECIALS, *words])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(
        single="<bos> $A <eos>", special_tokens=[("<bos>", 2), ("<eos>", 3)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", unk_token="<unk>", bos_token="<bos>",
        eos_token="<eos>", model_max_length=max_length,
    )  # fmt: skip


def save_tiny_clip(folder: Path, hidden: int = 32, layers: int = 2, seed: int = 0) -> Path:
    """A random CLIPTextModel (width `hidden`, 16 positions) and its tokenizer in `folder`."""
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(seed)
    tok = word_tokenizer()
    cfg = CLIPTextConfig(
        vocab_size=len(tok), hidden_size=hidden, intermediate_size=2 * hidden,
        num_hidden_layers=layers, num_attention_heads=4, max_position_embeddings=16,
        pad_token_id=0, bos_token_id=2, eos_token_id=3,
    )  # fmt: skip
    CLIPTextModel(cfg).save_pretrained(folder, safe_serialization=True)
    tok.save_pretrained(folder)
    return folder


def save_tiny_bert(folder: Path, hidden: int = 16, seed: int = 0) -> Path:
    """A random BertModel (loaded through AutoModel) and its tokenizer in `folder`."""
    from transformers import BertConfig, BertModel

    torch.manual_seed(seed)
    tok = word_tokenizer()
    cfg = BertConfig(
        vocab_size=len(tok), hidden_size=hidden, intermediate_size=2 * hidden,
        num_hidden_layers=1, num_attention_heads=2, max_position_embeddings=16, pad_token_id=0,
    )  # fmt: skip
    BertModel(cfg).save_pretrained(folder, safe_serialization=True)
    tok.save_pretrained(folder)
    return folder
