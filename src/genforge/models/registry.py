"""Model names -> (family class, preset overrides): the one table every interface reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genforge.core.config import from_dict
from genforge.core.errors import GenforgeError, unknown_choice
from genforge.data.modalities import Modality, get_modality
from genforge.models.attrgan import AttrGAN
from genforge.models.base import ImageModel
from genforge.models.copula import GaussianCopula
from genforge.models.ctgan import CTGAN
from genforge.models.cyclegan import CycleGAN
from genforge.models.dcgan import DCGAN
from genforge.models.detector import Detector
from genforge.models.diffusion import DDPM
from genforge.models.gan import GAN
from genforge.models.gru_seq2seq import GRUSeq2Seq
from genforge.models.lm import GPT
from genforge.models.lstm import LSTM
from genforge.models.mocogan import MoCoGAN
from genforge.models.ngram import NGram
from genforge.models.pix2pix import Pix2Pix
from genforge.models.seq2seq import Seq2Seq
from genforge.models.specvae import SpecVAE
from genforge.models.super_resolution import SuperResolution
from genforge.models.text_to_image import TextToImage
from genforge.models.tvae import TVAE
from genforge.models.vae import VAE
from genforge.models.vdm import VDM
from genforge.models.wavegan import WaveGAN

# Table models train on (N, D) rows: no channels_last; CTGAN's optimiser settings.
_TABLE_TRAIN = {"channels_last": False, "batch_size": 500, "steps": 300}

# Language models: AdamW (matrices decayed), a cosine schedule down to lr/10 after 100 warmup
# steps (nanoGPT's character-level settings), no EMA (rarely helps LMs, costs a copy per
# step), token tensors are not images (no channels_last), torch.compile on CUDA.
_LM_TRAIN = {
    "optimizer": "adamw", "lr": 1e-3, "betas": (0.9, 0.99), "weight_decay": 0.1,
    "batch_size": 32, "ema_decay": 0.0, "channels_last": False, "steps": 2000,
    "warmup_steps": 100, "lr_schedule": "cosine", "min_lr_ratio": 0.1, "compile": "auto",
}  # fmt: skip


# Text-to-text: AdamW with the transformer's warmup then cosine decay (Vaswani et al. 2017
# warm up too), no EMA; batches are token tensors (no channels_last); not compiled, as each
# batch is cut to its own longest pair (shapes change every step).
_SEQ2SEQ_TRAIN = {
    "optimizer": "adamw", "lr": 1e-3, "betas": (0.9, 0.98), "weight_decay": 0.01,
    "batch_size": 32, "ema_decay": 0.0, "channels_last": False, "steps": 3000,
    "warmup_steps": 200, "lr_schedule": "cosine", "min_lr_ratio": 0.1, "compile": False,
}  # fmt: skip


@dataclass(frozen=True)
class ModelEntry:
    family: type[ImageModel]  # or another modality's base class (text, audio, table)
    description: str
    model: dict[str, Any] = field(default_factory=dict)  # preset overrides of family.Config
    train: dict[str, Any] = field(default_factory=dict)  # preset overrides of TrainConfig
    modality: str = "image"  # key of genforge.data.modalities.MODALITIES


# Diffusion trains with plain Adam and a short LR warmup (Ho et al. 2020 use 2e-4 with
# 5000 warmup steps on CIFAR-10; small UNets on small data take a larger step).
DIFFUSION_TRAIN = {"lr": 5e-4, "betas": (0.9, 0.999), "warmup_steps": 100, "ema_decay": 0.999}

# Video diffusion: the image diffusion settings on 5-d clips (no channels_last), smaller batches.
VIDEO_DIFFUSION_TRAIN = {**DIFFUSION_TRAIN, "channels_last": False, "batch_size": 16, "lr": 1e-3}

MODELS: dict[str, ModelEntry] = {
    "gan": ModelEntry(
        GAN, "fully-connected GAN (the classic 100-256-512-1024 MLP)", {}, {"lr": 2e-4}
    ),
    "dcgan": ModelEntry(DCGAN, "deep convolutional GAN, BCE loss, BatchNorm"),
    "cgan": ModelEntry(
        DCGAN,
        "class-conditional DCGAN: conditional BatchNorm G, projection + spectral-norm D, hinge loss",
        {"conditional": True, "loss": "hinge", "d_norm": "spectral", "n_critic": 2},
        {"betas": (0.0, 0.9), "lr": 2e-4},
    ),
    "attrgan": ModelEntry(
        AttrGAN,
        "attribute-conditional DCGAN (several categorical attributes from attributes.csv): "
        "per-attribute embeddings in G, per-attribute projection + auxiliary classifier in D",
        {},
        {"betas": (0.0, 0.9), "lr": 2e-4, "lr_d": 2e-4},
    ),
    "wgan-gp": ModelEntry(
        DCGAN,
        "Wasserstein GAN with gradient penalty (LayerNorm critic, 5 critic steps)",
        {"loss": "wgan-gp", "d_norm": "layer", "n_critic": 5},
        {"lr": 1e-4, "betas": (0.0, 0.9)},
    ),
    "hinge-sn": ModelEntry(
        DCGAN,
        "hinge loss with a spectral-norm discriminator (SNGAN-style)",
        {"loss": "hinge", "d_norm": "spectral"},
        {"betas": (0.0, 0.9), "lr": 2e-4, "lr_d": 4e-4},
    ),
    "vae": ModelEntry(
        VAE, "convolutional variational autoencoder", {}, {"lr": 1e-3, "betas": (0.9, 0.999)}
    ),
    "cvae": ModelEntry(
        VAE,
        "class-conditional convolutional VAE",
        {"conditional": True},
        {"lr": 1e-3, "betas": (0.9, 0.999)},
    ),
    "ddpm": ModelEntry(
        DDPM,
        "denoising diffusion (diffusers UNet2DModel + DDPMScheduler); --conditional for CFG",
        {},
        DIFFUSION_TRAIN,
    ),
    "cddpm": ModelEntry(
        DDPM,
        "class-conditional DDPM with classifier-free guidance (null-label dropout 0.1)",
        {"conditional": True},
        DIFFUSION_TRAIN,
    ),
    "t2i": ModelEntry(
        TextToImage,
        "text-to-image diffusion: cross-attention UNet + a small text encoder trained on "
        "captions (captions.jsonl or the class names)",
        {"conditional": True},
        DIFFUSION_TRAIN,
        modality="captioned-image",
    ),
    "cyclegan": ModelEntry(
        CycleGAN,
        "unpaired translation between --domain-a and --domain-b (or --data's two subfolders; "
        "ResNet G, PatchGAN D, "
        "least squares + cycle + identity losses)",
        {},
        {"lr": 2e-4, "betas": (0.5, 0.999)},
        modality="image-pair",
    ),
    "pix2pix": ModelEntry(
        Pix2Pix,
        "paired translation from --domain-a to --domain-b files of the same name (U-Net G, "
        "PatchGAN D, GAN + 100 x L1 loss)",
        {},
        {"lr": 2e-4, "betas": (0.5, 0.999)},
        modality="image-pair",
    ),
    "sr": ModelEntry(
        SuperResolution,
        "diffusion super-resolution (SR3-style): a UNet denoises the full image given the "
        "bicubic-upsampled low-res one; --scale 2/4/8",
        {},
        DIFFUSION_TRAIN,
    ),
    "gpt": ModelEntry(
        GPT,
        "GPT-2 Transformer LM (transformers); sizes tiny/small/medium, or --init a local model",
        {},
        _LM_TRAIN,
        modality="text",
    ),
    "lstm": ModelEntry(
        LSTM,
        "LSTM language model (2 layers, tied embeddings)",
        {},
        {**_LM_TRAIN, "lr": 2e-3, "weight_decay": 0.0},
        modality="text",
    ),
    "ngram": ModelEntry(
        NGram,
        "n-gram LM, interpolated Kneser-Ney (fitted by counting; --set n=5)",
        {},
        {"steps": 1, "ema_decay": 0.0, "channels_last": False},
        modality="text",
    ),
    "seq2seq": ModelEntry(
        Seq2Seq,
        "Transformer encoder-decoder for translation and summarisation (transformers' Marian "
        "architecture); sizes micro/tiny/small, or --init a local Marian/T5/BART/mBART",
        {},
        _SEQ2SEQ_TRAIN,
        modality="text-pair",
    ),
    "gru-seq2seq": ModelEntry(
        GRUSeq2Seq,
        "GRU encoder-decoder with additive attention (Bahdanau et al. 2015), the classic "
        "text-to-text baseline",
        {},
        {**_SEQ2SEQ_TRAIN, "optimizer": "adam", "betas": (0.9, 0.999), "weight_decay": 0.0},
        modality="text-pair",
    ),
    "ctgan": ModelEntry(
        CTGAN,
        "conditional tabular GAN: mode-specific normalisation, training-by-sampling, PacGAN critic, WGAN-GP",
        {},
        {**_TABLE_TRAIN, "lr": 2e-4, "betas": (0.5, 0.9), "weight_decay": 1e-6},
        modality="table",
    ),
    "tvae": ModelEntry(
        TVAE,
        "tabular VAE on mode-normalised rows",
        {},
        {**_TABLE_TRAIN, "lr": 1e-3, "betas": (0.9, 0.999), "weight_decay": 1e-5},
        modality="table",
    ),
    "copula": ModelEntry(
        GaussianCopula,
        "Gaussian copula: empirical marginals, correlation of normal scores by maximum likelihood",
        {},
        {**_TABLE_TRAIN, "lr": 0.02, "betas": (0.9, 0.999), "ema_decay": 0.0},
        modality="table",
    ),
    "wavegan": ModelEntry(
        WaveGAN,
        "WaveGAN: 1-D transposed-conv generator on raw audio, phase-shuffle critic, WGAN-GP",
        {},
        {"channels_last": False, "lr": 1e-4, "betas": (0.5, 0.9)},
        modality="audio",
    ),
    "cwavegan": ModelEntry(
        WaveGAN,
        "class-conditional WaveGAN (label embedding in G, projection critic)",
        {"conditional": True},
        {"channels_last": False, "lr": 1e-4, "betas": (0.5, 0.9)},
        modality="audio",
    ),
    "specvae": ModelEntry(
        SpecVAE,
        "VAE on log-mel spectrograms, Griffin-Lim back to waveform",
        {},
        {"channels_last": False, "lr": 1e-3, "betas": (0.9, 0.999)},
        modality="audio",
    ),
    "vdm": ModelEntry(
        VDM,
        "video diffusion: factorised space-time UNet (per-frame ResNet + spatial attention, "
        "temporal attention; Ho et al. 2022); also continues and fills in given frames",
        {},
        VIDEO_DIFFUSION_TRAIN,
        modality="video",
    ),
    "cvdm": ModelEntry(
        VDM,
        "class-conditional video diffusion with classifier-free guidance (null-label dropout 0.1)",
        {"conditional": True},
        VIDEO_DIFFUSION_TRAIN,
        modality="video",
    ),
    "mocogan": ModelEntry(
        MoCoGAN,
        "MoCoGAN video GAN: content code + GRU motion codes, frame and clip (3-D conv) "
        "discriminators (Tulyakov et al. 2018)",
        {},
        {"channels_last": False, "batch_size": 16, "lr": 2e-4, "betas": (0.5, 0.999)},
        modality="video",
    ),
    "cmocogan": ModelEntry(
        MoCoGAN,
        "class-conditional MoCoGAN (label embedding in the content code, projection critics)",
        {"conditional": True},
        {"channels_last": False, "batch_size": 16, "lr": 2e-4, "betas": (0.5, 0.999)},
        modality="video",
    ),
    "detector": ModelEntry(
        Detector,
        "real-vs-generated image detector: a small CNN on generated/ and real/ images, trained "
        "with resize, crop, blur and JPEG augmentation (Wang et al. 2020)",
        {},
        {"lr": 1e-3, "betas": (0.9, 0.999), "ema_decay": 0.0, "steps": 1000},
    ),
}


def get_entry(name: str) -> ModelEntry:
    if name not in MODELS:
        raise unknown_choice("model", name, MODELS)
    return MODELS[name]


def modality_of(cfg: dict[str, Any]) -> Modality:
    """The modality of a run from its config.yaml: its model's registry entry says (a run
    written before cyclegan and pix2pix had their own "image-pair" modality says "image")."""
    model = cfg.get("model")
    entry = MODELS.get(model)  # type: ignore[arg-type]
    if entry is None:
        raise GenforgeError(
            f"run '{cfg.get('name', '?')}' uses model '{model}', which is not registered"
        )
    return get_modality(entry.modality)


def model_config(name: str, overrides: dict[str, Any] | None = None) -> Any:
    """The resolved config dataclass for model `name`: family defaults < preset < overrides."""
    entry = get_entry(name)
    return from_dict(entry.family.Config, {**entry.model, **(overrides or {})})


def build_model(
    name: str, spec: Any, overrides: dict[str, Any] | None = None, model_dir: Path | None = None
) -> ImageModel:
    """Instantiate model `name` for data of shape `spec` (an ImageSpec for image models).

    `model_dir`: a saved run's checkpoint folder, when rebuilding that run to load its weights
    (see `GenerativeModel.rebuild`)."""
    entry = get_entry(name)
    config = model_config(name, overrides)
    rebuild = getattr(entry.family, "rebuild", None)  # text/table families have no hook
    if model_dir is not None and rebuild is not None:
        return rebuild(config, spec, model_dir)
    return entry.family(config, spec)
