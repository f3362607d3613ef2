"""Tiny random pretrained models written to a folder inside the tests (no downloads): text
encoders (a word-level tokenizer plus a CLIP text model or a BERT model), a CLIP model with its
image processor, a Stable Diffusion pipeline of 8x8 images and a VITS text-to-speech model, all
saved with `save_pretrained` (safetensors)."""

from __future__ import annotations

import json
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


def save_tiny_clip_model(folder: Path, seed: int = 0) -> Path:
    """A random CLIPModel (text and 16x16 vision towers, 8-d projections), its tokenizer and
    its image processor in `folder`."""
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    torch.manual_seed(seed)
    tok = word_tokenizer([*WORDS, "sks", "dog"])
    cfg = CLIPConfig(
        text_config=dict(vocab_size=len(tok), hidden_size=16, intermediate_size=32,
                         num_hidden_layers=1, num_attention_heads=2, max_position_embeddings=16,
                         pad_token_id=0, bos_token_id=2, eos_token_id=3),
        vision_config=dict(image_size=16, patch_size=4, hidden_size=16, intermediate_size=32,
                           num_hidden_layers=1, num_attention_heads=2),
        projection_dim=8,
    )  # fmt: skip
    CLIPModel(cfg).save_pretrained(folder, safe_serialization=True)
    tok.save_pretrained(folder)
    CLIPImageProcessor(size={"shortest_edge": 16},
                       crop_size={"height": 16, "width": 16}).save_pretrained(folder)  # fmt: skip
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


def clip_char_tokenizer(folder: Path):
    """A CLIP tokenizer over single letters (vocab.json + empty merges), saved in `folder`."""
    from transformers import CLIPTokenizer

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1, "!": 2}
    for c in "abcdefghijklmnopqrstuvwxyz":
        vocab.setdefault(c, len(vocab))
        vocab.setdefault(c + "</w>", len(vocab))
    folder.mkdir(parents=True)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    return CLIPTokenizer(
        str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=16
    )


def save_tiny_sd_pipeline(root: Path) -> Path:
    """A random Stable Diffusion pipeline of 8x8 images in `root`/pipe; returns that folder."""
    from diffusers import (
        AutoencoderKL,
        DDIMScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, block_out_channels=(8, 16),
        layers_per_block=1, norm_num_groups=4, attention_head_dim=4, cross_attention_dim=16,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
    )  # fmt: skip
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8,),
        down_block_types=("DownEncoderBlock2D",), up_block_types=("UpDecoderBlock2D",),
        norm_num_groups=4, sample_size=8,
    )  # fmt: skip
    text = CLIPTextModel(CLIPTextConfig(
        vocab_size=64, hidden_size=16, intermediate_size=32, num_attention_heads=2,
        num_hidden_layers=1, max_position_embeddings=16, bos_token_id=0, eos_token_id=1,
        pad_token_id=1,
    ))  # fmt: skip
    pipe = StableDiffusionPipeline(
        vae=vae, text_encoder=text, tokenizer=clip_char_tokenizer(root / "tok"), unet=unet,
        scheduler=DDIMScheduler(clip_sample=False), safety_checker=None, feature_extractor=None,
        requires_safety_checker=False,
    )  # fmt: skip
    pipe.save_pretrained(root / "pipe")
    return root / "pipe"


def save_tiny_ddpm_pipeline(folder: Path) -> Path:
    """A random unconditional DDPM pipeline (UNet2DModel, 8x8 RGB) saved in `folder`."""
    from diffusers import DDPMPipeline, DDPMScheduler, UNet2DModel

    torch.manual_seed(0)
    unet = UNet2DModel(
        sample_size=8, in_channels=3, out_channels=3, block_out_channels=(8,), layers_per_block=1,
        norm_num_groups=4, down_block_types=("DownBlock2D",), up_block_types=("UpBlock2D",),
    )  # fmt: skip
    DDPMPipeline(unet=unet, scheduler=DDPMScheduler()).save_pretrained(folder)
    return folder


def save_tiny_vits(folder: Path) -> Path:
    """A randomly initialised, tiny VITS model and character tokenizer, saved like MMS-TTS."""
    import transformers

    folder.mkdir(parents=True, exist_ok=True)
    chars = list(" abcdefghijklmnopqrstuvwxyz'.,")
    (folder / "vocab.json").write_text(json.dumps({c: i for i, c in enumerate(chars)}))
    tok = transformers.VitsTokenizer(str(folder / "vocab.json"), phonemize=False, language=None)
    config = transformers.VitsConfig(
        vocab_size=len(chars), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        ffn_dim=32, flow_size=8, spectrogram_bins=17, prior_encoder_num_flows=1,
        prior_encoder_num_wavenet_layers=1, posterior_encoder_num_wavenet_layers=1,
        duration_predictor_filter_channels=16, duration_predictor_num_flows=1,
        depth_separable_num_layers=1, upsample_initial_channel=16, upsample_rates=[4, 4],
        upsample_kernel_sizes=[8, 8], resblock_kernel_sizes=[3], resblock_dilation_sizes=[[1]],
        sampling_rate=8000,
    )  # fmt: skip
    torch.manual_seed(0)
    transformers.VitsModel(config).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}<|end|>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def save_tiny_chat_gpt2(folder: Path, template: str | None = CHAT_TEMPLATE, seed: int = 0) -> Path:
    """A random GPT-2 causal LM (64 positions) and a byte-level BPE tokenizer with `template`
    as its chat template (None: none), ending turns with <|end|> (its EOS token)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<unk>", "<|end|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())  # fmt: skip
    tok.train_from_iterator(["hello there, how are you today?", "the cat sat on the mat"] * 5,
                            trainer)  # fmt: skip
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|end|>", unk_token="<unk>")
    if template is not None:
        fast.chat_template = template
    fast.save_pretrained(folder)
    torch.manual_seed(seed)
    cfg = GPT2Config(vocab_size=len(fast), n_positions=64, n_embd=16, n_layer=1, n_head=2,
                     eos_token_id=fast.eos_token_id, bos_token_id=fast.eos_token_id)  # fmt: skip
    GPT2LMHeadModel(cfg).save_pretrained(folder, safe_serialization=True)
    return folder
