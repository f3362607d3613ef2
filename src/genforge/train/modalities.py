"""What `train()` needs to know about each kind of data, in one table.

A model's registry entry names its modality ("image", "text", "audio", "table"); the modality
says how to load the data, which config keys describe it, the spec a model is built for, and
how to draw the preview the loop writes every `sample_every` steps. The loop, checkpoints,
EMA, resume and logging are the same for all of them.

A modality's dataset must work with `train.batches.Batches`: `len()`, `in_memory`, `images`
(a tensor whose first dimension indexes training items: images, token windows, waveforms,
encoded rows), `labels` (None or (N,) int64), `stream` (a torch Dataset when not in memory),
`num_classes`, plus `name`, `report` (with `to_dict()`) and `split(val_fraction, seed)`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from genforge.core.errors import GenforgeError, unknown_choice
from genforge.data.text import TextDataConfig
from genforge.train.config import DataConfig

if TYPE_CHECKING:
    from genforge.core.run import Run
    from genforge.train.loop import MetricsLogger
    from genforge.train.trainer import Trainer


class Modality:
    """Base class; one subclass per kind of data, registered in MODALITIES."""

    name: ClassVar[str]
    data_config: ClassVar[type]  # dataclass with a `source` field and the data options
    default_data: ClassVar[str]  # embedded source used when --data is not given
    item_name: ClassVar[str] = "items"  # what one training item is called, for messages/cards

    def is_embedded(self, source: str) -> bool:
        """True when `source` names an embedded set rather than a path."""
        raise NotImplementedError

    def load(self, cfg: Any, seed: int) -> Any:
        """Load the dataset described by data config `cfg`."""
        raise NotImplementedError

    def spec_of(self, dataset: Any) -> Any:
        """The spec (shape of the data) a model is built for; it has `to_dict()`."""
        raise NotImplementedError

    def spec_from_dict(self, d: dict[str, Any]) -> Any:
        raise NotImplementedError

    def resolved_data(self, cfg: Any, dataset: Any) -> dict[str, Any]:
        """The `data` section of config.yaml: the config plus what the data fixed."""
        from genforge.core.config import to_dict

        return to_dict(cfg)

    def preview(self, trainer: Trainer, run: Run, step: int, logger: MetricsLogger | None) -> None:
        """Write the run's preview samples for `step` under `run.samples_dir`."""

    def resolve_train(self, cfg: Any, dataset: Any, train_cfg: Any) -> Any:
        """The training config once the data is known (e.g. tables turn --epochs into steps)."""
        return train_cfg

    def evaluate(self, trainer: Trainer, run: Run, n: int) -> dict[str, float]:
        """A few metrics of the current model for --eval-every (keys without 'eval_')."""
        raise GenforgeError(f"evaluation during training is not available for {self.name} models")

    def describe(self, cfg: dict[str, Any]) -> str:
        """Short description of the data shape for the model card, e.g. '32×32, 1 channel'."""
        return ""

    # -- model card (README.md) pieces; None / defaults give the image wording -------------
    def card_data(self, report: dict[str, Any]) -> list[str] | None:
        """Bullet lines of the card's Data section (None: the image lines)."""
        return None

    def card_samples(self) -> str:
        return "![samples](samples/latest.png)"

    def card_limits(self, report: dict[str, Any]) -> list[str] | None:
        """Bullet lines of the card's Limits section (None: the image lines)."""
        return None

    def card_usage(self, run_name: str) -> list[str]:
        return [
            f"genforge sample {run_name} --n 64 --grid samples.png --seed 0",
            f"genforge sample {run_name} --interpolate 8 --frames 60 --out walk.gif",
        ]


class ImageModality(Modality):
    name = "image"
    data_config = DataConfig
    default_data = "digits"
    item_name = "images"

    def is_embedded(self, source: str) -> bool:
        from genforge.data import is_embedded

        return is_embedded(source)

    def load(self, cfg: Any, seed: int) -> Any:
        from genforge.data import load_images

        if getattr(cfg, "domain_b", None):  # --domain-a/--domain-b (cyclegan, pix2pix)
            from genforge.data.domains import load_domains

            return load_domains(
                cfg.source, cfg.domain_b, cfg.image_size, cfg.channels, paired=cfg.paired,
                max_memory_bytes=cfg.memory_limit_mb * 2**20,
            )  # fmt: skip
        return load_images(
            cfg.source, cfg.image_size, cfg.channels, seed=seed,
            max_memory_bytes=cfg.memory_limit_mb * 2**20,
            attributes=getattr(cfg, "attributes", None),
        )  # fmt: skip

    def spec_of(self, dataset: Any) -> Any:
        from genforge.models.base import ImageSpec

        attrs = tuple((k, tuple(v)) for k, v in getattr(dataset, "attribute_values", {}).items())
        return ImageSpec(dataset.channels, dataset.image_size, dataset.num_classes,
                         tuple(dataset.class_names), attrs)  # fmt: skip

    def spec_from_dict(self, d: dict[str, Any]) -> Any:
        from genforge.models.base import ImageSpec

        return ImageSpec.from_dict(d)

    def resolved_data(self, cfg: Any, dataset: Any) -> dict[str, Any]:
        from genforge.core.config import to_dict

        return {**to_dict(cfg), "image_size": dataset.image_size, "channels": dataset.channels}

    def preview(self, trainer: Trainer, run: Run, step: int, logger: MetricsLogger | None) -> None:
        from genforge.core.images import make_grid, save_png

        images, nrow = trainer.preview()
        grid = make_grid(images, nrow=nrow)
        params = {"run": run.name, "step": step, "seed": trainer.preview_seed, "kind": "preview"}
        save_png(run.samples_dir / f"step-{step:07d}.png", grid, params)
        save_png(run.samples_dir / "latest.png", grid, params)
        if logger:
            logger.image(step, grid)

    def evaluate(self, trainer: Trainer, run: Run, n: int) -> dict[str, float]:
        import torch

        from genforge.evaluate.image import ImageEvaluator

        ev = getattr(trainer, "_image_evaluator", None)
        if ev is None:  # built once per training: real data, feature space (cached on disk)
            ev = ImageEvaluator(run, features="auto", load_pipeline=False)
            trainer._image_evaluator = ev
        model, device = trainer.model, trainer.accelerator.device
        g = torch.Generator().manual_seed(trainer.cfg.seed + 777)  # same latents every time
        labels = torch.arange(n) % model.spec.num_classes if model.conditional else None
        z = model.latent(n, generator=g)
        net = trainer.sampling_net()
        was_training = net.training
        net.eval()
        with torch.no_grad():
            images = torch.cat(
                [
                    model.generate(
                        z[i : i + 256].to(device),
                        labels[i : i + 256].to(device) if labels is not None else None,
                        net=net,
                    )
                    .float()
                    .cpu()
                    for i in range(0, n, 256)
                ]
            )
        net.train(was_training)
        return ev.quick(images, labels)

    def describe(self, cfg: dict[str, Any]) -> str:
        spec = cfg["spec"]
        ch = spec["channels"]
        return f"{spec['size']}×{spec['size']}, {ch} channel{'s' if ch > 1 else ''}"


class TextModality(Modality):
    """Documents -> token windows (N, block_size + 1); previews are text files."""

    name = "text"
    data_config = TextDataConfig
    default_data = "pydoc"
    item_name = "token windows"

    def is_embedded(self, source: str) -> bool:
        from genforge.data.text import is_text_embedded

        return is_text_embedded(source)

    def load(self, cfg: Any, seed: int) -> Any:
        from genforge.data.text import TextDataset, load_corpus, train_texts
        from genforge.data.text_tokenizers import make_tokenizer

        corpus = load_corpus(cfg, seed)
        # The tokenizer learns from the training documents only (held-out text stays unseen).
        train_docs = train_texts(corpus.docs, cfg.val_fraction, seed)
        tokenizer = make_tokenizer(cfg.tokenizer, train_docs, cfg.vocab_size)
        return TextDataset.build(corpus, tokenizer, cfg.block_size, cfg.stride)

    def spec_of(self, dataset: Any) -> Any:
        from genforge.models.text_base import TextSpec

        tok = dataset.tokenizer
        return TextSpec(tok.vocab_size, dataset.block_size, tok.kind, tok.eos_id, tok.sha, tok)

    def spec_from_dict(self, d: dict[str, Any]) -> Any:
        from genforge.models.text_base import TextSpec

        return TextSpec.from_dict(d)

    def preview(self, trainer: Trainer, run: Run, step: int, logger: MetricsLogger | None) -> None:
        from genforge.core.io import write_text

        text = trainer.model.preview_text(trainer.sampling_net(), trainer.batches.dataset.tokenizer,
                                          seed=trainer.preview_seed)  # fmt: skip
        header = (
            f"# {run.name} step {step}, seed {trainer.preview_seed}, sampled at temperature 1\n\n"
        )
        write_text(run.samples_dir / f"step-{step:07d}.txt", header + text)
        write_text(run.samples_dir / "latest.txt", header + text)
        if logger and logger.tb is not None:
            logger.tb.add_text("samples", text, step)

    def card_data(self, report: dict[str, Any]) -> list[str] | None:
        pii = ", ".join(f"{k} {v}" for k, v in report.get("pii_counts", {}).items() if v)
        return [
            f"- documents used: {report.get('num_documents', '?')} of "
            f"{report.get('num_documents_found', '?')} found; {report.get('num_chars', 0):,} "
            f"characters, {report.get('num_tokens', 0):,} tokens ({report.get('tokenizer', '?')})",
            f"- token windows: train {report.get('train', '?')}, held-out val "
            f"{report.get('val', '?')} (split by document)",
            f"- duplicates dropped: {report.get('exact_duplicates', 0)} exact, "
            f"{report.get('near_duplicates', 0)} near; skipped: {len(report.get('skipped', []))}",
            f"- PII {'scrubbed' if report.get('pii_scrubbed', True) else 'found, NOT scrubbed'}: "
            f"{pii or 'none found'}",
        ]

    def card_samples(self) -> str:
        return "Latest preview: [samples/latest.txt](samples/latest.txt)"

    def card_limits(self, report: dict[str, Any]) -> list[str] | None:
        return [
            "- The training loss is a per-token cross-entropy on training windows; judge the model",
            "  by held-out bits per character against the KN n-gram baseline (`genforge eval`).",
            "- A language model can reproduce training text verbatim (names, numbers, code); the",
            "  evaluation's memorization audit flags long shared spans. PII scrubbing is pattern-",
            "  based and misses names and free-form personal details.",
            f"- Trained on {report.get('num_chars', 0):,} characters only; it knows nothing else.",
        ]

    def card_usage(self, run_name: str) -> list[str]:
        return [
            f'genforge generate text {run_name} --prompt "The" --do-sample --top-p 0.9 --n 4',
            f'genforge generate text {run_name} --prompt "The" --num-beams 5 --no-repeat-ngram-size 2',
            f"genforge chat {run_name}",
        ]

    def describe(self, cfg: dict[str, Any]) -> str:
        spec = cfg["spec"]
        return f"{spec['tokenizer']} tokenizer, {spec['vocab_size']} tokens, context {spec['block_size']}"


@dataclass
class CaptionedDataConfig(DataConfig):
    caption_template: str | None = None  # None: "a handwritten {name}" for digits, else "a {name}"


class CaptionedImageModality(ImageModality):
    """Images with one caption each (text-to-image): from `captions.jsonl` beside the images,
    or made from the class names. The captions become the class names (see data/captions.py)."""

    name = "captioned-image"
    data_config = CaptionedDataConfig

    def load(self, cfg: Any, seed: int) -> Any:
        from genforge.data.captions import caption_dataset

        return caption_dataset(super().load(cfg, seed), cfg.source, cfg.caption_template)

    def card_usage(self, run_name: str) -> list[str]:
        return [
            f'genforge generate image --model {run_name} --prompt "<a caption>" --guidance 3 --n 8',
            *super().card_usage(run_name),
        ]


@dataclass
class TableDataConfig:
    source: str = "breast_cancer"  # embedded table (breast_cancer, wine, diabetes) or CSV path
    val_fraction: float = 0.2  # real holdout, kept for the privacy and utility evaluation
    constraints: tuple[str, ...] = ()  # range:COL:LO:HI, positive:COL, fixed:COL,COL
    target: str | None = None  # column for the utility evaluation (default: the set's target)
    epochs: int | None = None  # passes over the training rows; sets steps (see resolve_train)


class TableModality(Modality):
    name = "table"
    data_config = TableDataConfig
    default_data = "breast_cancer"
    item_name = "rows"

    def is_embedded(self, source: str) -> bool:
        from genforge.data.table import is_embedded_table

        return is_embedded_table(source)

    def load(self, cfg: Any, seed: int) -> Any:
        from genforge.data.table import load_table

        return load_table(cfg.source, tuple(cfg.constraints), cfg.target, seed=seed)

    def spec_of(self, dataset: Any) -> Any:
        return dataset.spec

    def spec_from_dict(self, d: dict[str, Any]) -> Any:
        from genforge.data.table import TableSpec

        return TableSpec.from_dict(d)

    def resolved_data(self, cfg: Any, dataset: Any) -> dict[str, Any]:
        from genforge.core.config import to_dict

        return {**to_dict(cfg), "target": dataset.report.target}

    def resolve_train(self, cfg: Any, dataset: Any, train_cfg: Any) -> Any:
        """Small tables: the batch size (CTGAN's default 500) is capped at the training rows,
        rounded down to a multiple of 10 (CTGAN's pac) when that leaves one; the config.yaml
        records the size used. --epochs E then sets steps = ceil(E * training rows / batch
        size): one step draws one batch (CTGAN's epoch is rows // batch_size steps)."""
        n_train = len(dataset) - round(len(dataset) * cfg.val_fraction)
        if train_cfg.batch_size > n_train:
            cap = n_train - n_train % 10 if n_train >= 10 else n_train
            train_cfg = dataclasses.replace(train_cfg, batch_size=cap)
        if cfg.epochs is None:
            return train_cfg
        if cfg.epochs < 1:
            raise GenforgeError(f"--epochs must be at least 1, got {cfg.epochs}")
        steps = max(1, math.ceil(cfg.epochs * n_train / train_cfg.batch_size))
        return dataclasses.replace(train_cfg, steps=steps)

    def preview(self, trainer: Trainer, run: Run, step: int, logger: MetricsLogger | None) -> None:
        import torch

        from genforge.core.io import write_text
        from genforge.data.table import decode

        model = trainer.model
        g = torch.Generator().manual_seed(trainer.preview_seed)
        rows = model.sample(20, generator=g, net=trainer.sampling_net())
        text = decode(model.spec, rows.numpy()).to_csv(index=False)
        write_text(run.samples_dir / f"step-{step:07d}.csv", text)
        write_text(run.samples_dir / "latest.csv", text)

    def describe(self, cfg: dict[str, Any]) -> str:
        cols = cfg["spec"]["columns"]
        learned = sum(c["kind"] != "id" for c in cols)
        return f"table, {len(cols)} columns ({learned} learned)"


@dataclass
class AudioDataConfig:
    source: str = "tones"  # embedded (tones, spoken-digits) or a folder of WAV/FLAC/OGG clips
    sample_rate: int = 16000  # every clip is resampled to this rate
    seconds: float = 1.0  # and cut or zero-padded to this length
    val_fraction: float = 0.1  # held out, seeded, stratified by label


class AudioModality(Modality):
    name = "audio"
    data_config = AudioDataConfig
    default_data = "tones"
    item_name = "clips"

    def is_embedded(self, source: str) -> bool:
        from genforge.data.audio import EMBEDDED_AUDIO

        return source in EMBEDDED_AUDIO

    def load(self, cfg: Any, seed: int) -> Any:
        from genforge.data.audio import load_audio

        return load_audio(cfg.source, cfg.sample_rate, cfg.seconds, seed=seed)

    def spec_of(self, dataset: Any) -> Any:
        from genforge.data.audio import AudioSpec

        return AudioSpec(dataset.sample_rate, dataset.length, dataset.num_classes,
                         tuple(dataset.class_names))  # fmt: skip

    def spec_from_dict(self, d: dict[str, Any]) -> Any:
        from genforge.data.audio import AudioSpec

        return AudioSpec.from_dict(d)

    def preview(self, trainer: Trainer, run: Run, step: int, logger: MetricsLogger | None) -> None:
        """A spectrogram grid (samples/latest.png) and the clips as WAVs (samples/latest-*.wav)."""
        from genforge.core.audio import save_spectrogram_grid, write_wav

        spec = trainer.model.spec
        waves, _ = trainer.preview(n=8)
        names = list(spec.class_names)
        k = min(spec.num_classes, 10) if trainer.model.conditional else 0
        per = max(1, 8 // k) if k else 0
        titles = [names[i // per] if k else f"#{i}" for i in range(len(waves))]
        params = {"run": run.name, "step": step, "seed": trainer.preview_seed, "kind": "preview"}
        for path in (run.samples_dir / f"step-{step:07d}.png", run.samples_dir / "latest.png"):
            save_spectrogram_grid(path, waves, spec.sample_rate, titles, params)
        for i, w in enumerate(waves[:8]):
            write_wav(run.samples_dir / f"latest-{i}.wav", w, spec.sample_rate)

    def describe(self, cfg: dict[str, Any]) -> str:
        spec = cfg["spec"]
        return f"{spec['length'] / spec['sample_rate']:g} s clips at {spec['sample_rate']} Hz"


MODALITIES: dict[str, Modality] = {
    "image": ImageModality(),
    "captioned-image": CaptionedImageModality(),
    "text": TextModality(),
    "table": TableModality(),
    "audio": AudioModality(),
}


def get_modality(name: str) -> Modality:
    if name not in MODALITIES:
        raise unknown_choice("modality", name, MODALITIES)
    return MODALITIES[name]


def modality_of(cfg: dict[str, Any]) -> Modality:
    """The modality of a run from its config.yaml (runs before modalities existed are images)."""
    return get_modality(cfg.get("modality", "image"))
