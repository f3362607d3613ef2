"""Evaluate an image-to-image Run (cyclegan, pix2pix) on the held-out split it never trained on.

    result = evaluate_run(run)        # EvalResult: metrics + report sections
    write_report(run, result)

Training holds out `val_fraction` of the items with the run's seed (`ImageDataset.split`); this
module rebuilds exactly that split from the run's domain folders and translates the held-out
images:

- pix2pix (paired): PSNR/SSIM of G(A) against the true B of each held-out pair, and the
  Fréchet distance of G(A) to the real B images.
- cyclegan (unpaired): FD of A→B against real B and of B→A against real A; cycle
  reconstruction PSNR/SSIM (A→B→A against A, B→A→B against B); identity PSNR (G_ab(B) against
  B, G_ba(A) against A). When the two folders hold files of the same name (a ground truth
  exists although training never used the pairing) also PSNR/SSIM of A→B against the
  matching B file, and B→A against the matching A file.

FD is computed in the same feature space as `genforge eval` on a sampling run of the same
data (`evaluate.features.feature_space`: Inception when its weights are on disk, else a
domain classifier trained on the run's A and B training images) and labelled the same way.
Every distance comes with the two numbers that make it readable: held-out real images of
the target domain (the floor) and the untranslated inputs (the do-nothing translator).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from genforge.core.errors import GenforgeError
from genforge.core.progress import Stages
from genforge.core.run import Run
from genforge.data.dataset import subset_indices, take
from genforge.evaluate import image_metrics as im
from genforge.evaluate.features import MAX_REAL, FeatureChoice, feature_space, space_section
from genforge.evaluate.report import grid_section
from genforge.evaluate.result import EvalResult, Metric, Section
from genforge.models import modality_of

SHOWN = 8  # examples per grid


# ---------------------------------------------------------------------------------------
# The held-out split, rebuilt from the run's folders
# ---------------------------------------------------------------------------------------


@dataclass
class Domains:
    """Training and held-out images of both domains, (N, C, H, W) in [-1, 1]."""

    names: list[str]  # [A, B]
    data_name: str
    train_a: torch.Tensor
    train_b: torch.Tensor
    val_a: torch.Tensor
    val_b: torch.Tensor
    val_a_files: list[str] | None  # files of the held-out images (None: not from files)
    val_b_files: list[str] | None
    paired: bool  # pix2pix: val_a[i] and val_b[i] are one pair


def _check_folders(run: Run, data: dict[str, Any]) -> None:
    from genforge.data import is_embedded

    for which, key in (("A", "source"), ("B", "domain_b")):
        path = data.get(key)
        if path is None or (key == "source" and is_embedded(path)):
            continue
        if not Path(path).is_dir():
            raise GenforgeError(
                f"run '{run.name}' was trained on domain {which} folder {path}, which no longer "
                "exists (moved or deleted); genforge eval rebuilds the held-out split from it"
            )


def load_domains_split(run: Run, n: int, seed: int) -> Domains:
    """The run's domain images split exactly as training split them; at most `n` held-out
    images per domain (a seeded subset beyond that) and MAX_REAL training images."""
    cfg = run.read_config()
    _check_folders(run, cfg["data"])
    modality = modality_of(cfg)
    split = modality.reload(run)
    dataset, train, val = split.dataset, split.train, split.val
    if modality.spec_of(dataset).to_dict() != cfg["spec"]:
        raise GenforgeError(
            f"the data of run '{run.name}' no longer matches the run (its folders changed since "
            "training), so its held-out split cannot be rebuilt"
        )
    names = list(dataset.class_names)
    if dataset.paired:  # items stack (A, B) on the channel axis
        c = dataset.channels
        x, _ = take(train, subset_indices(len(train), MAX_REAL, seed))
        v, _ = take(val, subset_indices(len(val), n, seed))
        return Domains(
            names, dataset.name, x[:, :c], x[:, c:], v[:, :c], v[:, c:], None, None, True
        )
    files = val.files
    x, y = take(train, subset_indices(len(train), MAX_REAL, seed))
    v, vy = take(val, torch.arange(len(val)))
    assert y is not None and vy is not None  # two-domain data is labeled A=0, B=1
    out: list[tuple[torch.Tensor, list[str] | None]] = []
    for d in (0, 1):
        where = torch.nonzero(vy == d).flatten()
        where = where[subset_indices(len(where), n, seed + d)]
        out.append((v[where], [files[i] for i in where] if files is not None else None))
    (va, fa), (vb, fb) = out
    return Domains(names, dataset.name, x[y == 0], x[y == 1], va, vb, fa, fb, False)


def _domain_roots(cfg: dict[str, Any]) -> tuple[Path, Path] | None:
    """The folders whose relative file paths pair A with B: --domain-a/--domain-b, or the two
    class subfolders of --data."""
    data = cfg["data"]
    if data.get("domain_b"):
        return Path(data["source"]), Path(data["domain_b"])
    src = Path(str(data["source"]))
    roots = tuple(src / name for name in cfg["spec"]["class_names"])
    return (roots[0], roots[1]) if all(r.is_dir() for r in roots) else None


def partners(files: list[str], mine: Path, other: Path) -> list[tuple[int, Path]]:
    """(index in `files`, file of the same relative path without extension under `other`)."""
    from genforge.data.images import scan_image_folder

    scan = scan_image_folder(other)
    by_key = {
        e.path.relative_to(scan.root).with_suffix("").as_posix(): e.path for e in scan.entries
    }
    found = []
    for i, f in enumerate(files):
        try:
            key = Path(f).relative_to(mine).with_suffix("").as_posix()
        except ValueError:
            continue
        if key in by_key:
            found.append((i, by_key[key]))
    return found


# ---------------------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------------------


@torch.no_grad()
def translate_all(pipe: Any, x: torch.Tensor, direction: str, batch: int = 256) -> torch.Tensor:
    """Translate images (N, C, H, W) in batches with the run's network; (N, C, H, W) on the CPU."""
    out = [
        pipe.model.translate(x[i : i + batch].to(pipe.device), direction).float().cpu()
        for i in range(0, len(x), batch)
    ]
    return torch.cat(out) if out else x[:0]


class _FD:
    """Fréchet distances in one feature space, with the image evaluator's keys and labels."""

    def __init__(self, space: Any):
        self.space = space
        inception = space.kind == "inception"
        self.key = "fid_inception" if inception else "fd_domain"
        self.label = "FID (Inception)" if inception else f"FD ({space.label})"
        self._cache: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}  # id -> (images, feats)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        if id(x) not in self._cache:  # the reference sets serve several distances
            self._cache[id(x)] = (x, self.space.features(x))
        return self._cache[id(x)][1]

    def __call__(self, ref: torch.Tensor, x: torch.Tensor) -> float:
        return im.frechet_distance(self.features(ref), self.features(x))


def _fd_metrics(fd: _FD, d: Domains, out: torch.Tensor, src: str, dst: str) -> list[Metric]:
    """FD of translations src→dst to the real dst training images, with floor and baseline."""
    i, j = d.names.index(src), d.names.index(dst)
    ref = (d.train_a, d.train_b)[j]
    real_val, inputs = (d.val_a, d.val_b)[j], (d.val_a, d.val_b)[i]
    suffix = "a2b" if i == 0 else "b2a"
    refs = f"{len(ref)} real {dst} training images"
    return [
        Metric(f"{fd.key}_{suffix}", f"{fd.label}: {src} → {dst} vs real {dst}", fd(ref, out),
               "lower", f"{len(out)} held-out {src} images translated, vs {refs}"),
        Metric(f"{fd.key}_floor_{'ab'[j]}", f"{fd.label}: held-out real {dst} vs real {dst}",
               fd(ref, real_val), "lower",
               f"{len(real_val)} held-out real {dst} images vs {refs}: what a perfect "
               "translator would get at this sample size"),
        Metric(f"{fd.key}_input_{suffix}", f"{fd.label}: untranslated {src} vs real {dst}",
               fd(ref, inputs), None,
               f"the do-nothing translator: {len(inputs)} held-out {src} images as they are"),
    ]  # fmt: skip


def _pix2pix(pipe: Any, d: Domains, fd: _FD) -> tuple[list[Metric], list[Section], dict]:
    a_name, b_name = d.names
    out = translate_all(pipe, d.val_a, "a2b")
    n = len(out)
    note = f"{n} held-out pairs, never trained on"
    metrics = [
        Metric("psnr_a2b", f"PSNR {a_name} → {b_name} vs ground truth (dB)",
               im.psnr(out, d.val_b), "higher", note),
        im.ssim_metric("ssim_a2b", f"SSIM {a_name} → {b_name} vs ground truth", out, d.val_b, note),
        Metric("psnr_input_a2b", f"PSNR of the untranslated {a_name} vs ground truth (dB)",
               im.psnr(d.val_a, d.val_b), None, "the do-nothing translator, same pairs"),
        *_fd_metrics(fd, d, out, a_name, b_name),
    ]  # fmt: skip
    section, path = grid_section(
        f"Translations {a_name} → {b_name}",
        ["input", "output", "target"],
        [d.val_a, out, d.val_b],
        pipe.run.path / "translations-a2b.png",
        {"run": pipe.run.name, "step": pipe.step, "kind": "eval-translations"},
    )
    return metrics, [section], {"held_out": {"pairs": n}, "grids": [path]}


def _paired_truth(cfg: dict, d: Domains, spec: Any) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """For each direction, (indices of held-out inputs with a same-named partner, partners)."""
    from genforge.data.images import decode_images

    roots = _domain_roots(cfg)
    found: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    if roots is None:
        return found
    for direction, files, mine, other in (
        ("a2b", d.val_a_files, roots[0], roots[1]),
        ("b2a", d.val_b_files, roots[1], roots[0]),
    ):
        if not files:
            continue
        pairs = partners(files, mine, other)  # the paths as training scanned them
        if pairs:
            idx = torch.tensor([i for i, _ in pairs])
            paths = [p for _, p in pairs]
            found[direction] = (idx, decode_images(paths, spec.size, spec.channels, "Partners"))
    return found


def _cyclegan(
    pipe: Any, d: Domains, fd: _FD, cfg: dict
) -> tuple[list[Metric], list[Section], dict]:
    a_name, b_name = d.names
    a, b = d.val_a, d.val_b
    ab, ba = translate_all(pipe, a, "a2b"), translate_all(pipe, b, "b2a")
    aba, bab = translate_all(pipe, ab, "b2a"), translate_all(pipe, ba, "a2b")
    id_b, id_a = translate_all(pipe, b, "a2b"), translate_all(pipe, a, "b2a")
    na, nb = f"{len(a)} held-out {a_name} images", f"{len(b)} held-out {b_name} images"
    metrics = [
        *_fd_metrics(fd, d, ab, a_name, b_name),
        *_fd_metrics(fd, d, ba, b_name, a_name),
        Metric("psnr_cycle_a", f"cycle PSNR {a_name} → {b_name} → {a_name} (dB)",
               im.psnr(aba, a), "higher", na),
        im.ssim_metric("ssim_cycle_a", f"cycle SSIM {a_name} → {b_name} → {a_name}", aba, a, na),
        Metric("psnr_cycle_b", f"cycle PSNR {b_name} → {a_name} → {b_name} (dB)",
               im.psnr(bab, b), "higher", nb),
        im.ssim_metric("ssim_cycle_b", f"cycle SSIM {b_name} → {a_name} → {b_name}", bab, b, nb),
        Metric("psnr_identity_b", f"identity PSNR: {b_name} through {a_name} → {b_name} (dB)",
               im.psnr(id_b, b), "higher", f"{nb}; a translator should leave its target "
               "domain alone"),
        Metric("psnr_identity_a", f"identity PSNR: {a_name} through {b_name} → {a_name} (dB)",
               im.psnr(id_a, a), "higher", na),
    ]  # fmt: skip
    extra: dict[str, Any] = {"held_out": {a_name: len(a), b_name: len(b)}}
    truth = _paired_truth(cfg, d, pipe.spec)
    for direction, (idx, target) in truth.items():
        src, dst, out, inp = (
            (a_name, b_name, ab, a) if direction == "a2b" else (b_name, a_name, ba, b)
        )
        note = (
            f"{len(idx)} held-out {src} images with a same-named {dst} file; training never "
            "saw the pairing (the partner may be one of its unpaired training images)"
        )
        metrics += [
            Metric(f"psnr_{direction}", f"PSNR {src} → {dst} vs same-named {dst} (dB)",
                   im.psnr(out[idx], target), "higher", note),
            im.ssim_metric(f"ssim_{direction}", f"SSIM {src} → {dst} vs same-named {dst}",
                        out[idx], target, note),
            Metric(f"psnr_input_{direction}", f"PSNR of the untranslated {src} vs same-named "
                   f"{dst} (dB)", im.psnr(inp[idx], target), None, "the do-nothing translator"),
        ]  # fmt: skip
    extra["paired_ground_truth"] = {k: len(v[0]) for k, v in truth.items()}
    params = {"run": pipe.run.name, "step": pipe.step, "kind": "eval-translations"}
    sections, grids = [], []
    for direction, (src, dst), (x, y, z) in (
        ("a2b", (a_name, b_name), (a, ab, aba)),
        ("b2a", (b_name, a_name), (b, ba, bab)),
    ):
        cols, imgs = ["input", f"→ {dst}", f"→ back to {src}"], [x, y, z]
        if direction in truth:  # show only inputs with a ground truth, next to it
            idx, target = truth[direction]
            cols, imgs = [*cols, f"same-named {dst}"], [t[idx] for t in imgs] + [target]
        section, path = grid_section(
            f"Translations {src} → {dst}", cols, imgs,
            pipe.run.path / f"translations-{direction}.png", params,
        )  # fmt: skip
        sections.append(section)
        grids.append(path)
    extra["grids"] = grids
    return metrics, sections, extra


# ---------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------


def evaluate_run(
    run: Run,
    n: int = 1000,
    seed: int = 0,
    features: FeatureChoice = "auto",
    inception_weights: str | Path | None = None,
    device: str = "auto",
    domain_steps: int | None = None,
    progress: Stages | None = None,
    pipeline: Any = None,
    real: str | Path | None = None,
    utility: bool | None = None,
) -> EvalResult:
    """Evaluate a cyclegan or pix2pix run on its held-out split (see the module docstring).

    Args:
        run: the Run.
        n: at most this many held-out images (pairs for pix2pix) per domain.
        seed: picks the subset when more are held out than `n`.
        features, inception_weights, domain_steps: the FD feature space, as for sampling runs.
        pipeline: an already loaded ImagePipeline (else loaded here).
        progress: where the stages of the work are reported (`core.progress.Stages`).
        real, utility: not applicable; an error when given.
    """
    from genforge.core.device import pick_device
    from genforge.generate.pipeline import ImagePipeline

    if real is not None:
        raise GenforgeError(
            "--real does not apply to translation runs: they are measured on their own held-out "
            "split"
        )
    if utility:
        raise GenforgeError("--utility does not apply to translation runs")
    if n < 2:
        raise GenforgeError(f"--n must be at least 2 for distribution metrics, got {n}")
    cfg = run.read_config()
    if run.read_meta() is None:
        raise GenforgeError(f"run '{run.name}' has no checkpoint yet; train it first")
    st = progress or Stages.off()
    st.stage("reading the run's held-out split of both domains")
    d = load_domains_split(run, n, seed)
    counts = {d.names[0]: len(d.val_a), d.names[1]: len(d.val_b)}
    short = [k for k, v in counts.items() if v < 2]
    if short:
        frac = cfg["data"].get("val_fraction")
        raise GenforgeError(
            f"run '{run.name}' holds out {', '.join(f'{counts[k]} {k}' for k in short)} "
            f"image(s) (val_fraction {frac}); evaluation needs at least 2 per domain: train "
            "with a larger --set val_fraction=..."
        )
    pipe = pipeline or ImagePipeline(run, device=device)

    def labeled(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.cat([a, b]), torch.cat([torch.zeros(len(a)), torch.ones(len(b))]).long()

    # the feature space of sampling runs on the same data: A and B, labeled 0 and 1
    train_x, train_y = labeled(d.train_a, d.train_b)
    val = labeled(d.val_a, d.val_b)
    st.stage("feature space (a domain network is trained once per data set, then cached)")
    space = feature_space(
        features, train_x, train_y, d.data_name, inception_weights, pick_device(device), val,
        domain_steps, st.callback(),
    )  # fmt: skip
    fd = _FD(space)
    st.stage(f"translating {len(d.val_a) + (0 if d.paired else len(d.val_b))} held-out images")
    if d.paired:
        metrics, sections, extra = _pix2pix(pipe, d, fd)
    else:
        metrics, sections, extra = _cyclegan(pipe, d, fd, cfg)
    note = ""
    if space.kind != "inception":
        note = (
            f"<p>The domain classifier here learned to tell {d.names[0]} from {d.names[1]}, so "
            "its FD mostly measures whether translations land in the target domain, less how "
            "faithful their content is; the PSNR/SSIM against ground truth measure that.</p>"
        )
    sections.append(Section("Feature space", space_section(space).html + note))
    extra = {
        "feature_space": {"kind": space.kind, "label": space.label},
        "domains": d.names,
        "direction": "a2b" if d.paired else "a2b+b2a",
        **extra,
    }
    return EvalResult("image", metrics, sections, extra)
