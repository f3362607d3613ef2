from __future__ import annotations

import json
import re

import pytest

import genforge
from genforge.core.errors import GenforgeError
from genforge.core.run import Run
from genforge.evaluate import evaluate_run
from genforge.evaluate.report import write_report


@pytest.fixture(autouse=True)
def _small_domain_nets(monkeypatch):
    monkeypatch.setenv("GENFORGE_DOMAIN_STEPS", "60")


def test_conditional_run_report_names_its_feature_space(tiny_runs):
    run = tiny_runs["cgan"]
    result = evaluate_run(run, n=100, utility=True, utility_seeds=2, utility_steps=10)
    keys = {m.key: m for m in result.metrics}
    assert "fd_domain" in keys and "fid_inception" not in keys
    assert keys["fd_domain"].label == "FD (domain classifier, digits)"
    assert not any(m.label.startswith("FID") for m in result.metrics)
    for k in ("kd_domain", "is_domain", "precision", "recall", "density", "coverage",
              "conditional_accuracy", "class_kl", "classes_covered", "memorized",
              "utility_real", "utility_real_synthetic", "utility_synthetic"):  # fmt: skip
        assert k in keys, k
    assert 0 <= keys["conditional_accuracy"].value <= 1
    assert keys["fd_real_floor"].value < keys["fd_domain"].value  # 40 steps is far from real
    out = write_report(run, result)
    page = out.read_text()
    assert "FD (domain classifier, digits)" in page and "Memorization audit" in page
    assert "Downstream utility" in page and "Per-class table" in page
    assert not re.search(r"""(src|href)=["']?https?:""", page)  # self-contained
    assert page.count("data:image/png;base64,") >= 4
    saved = json.loads((run.path / "metrics.json").read_text())
    assert saved["values"]["fd_domain"] == pytest.approx(keys["fd_domain"].value)


def test_vae_run_gets_reconstruction_psnr_ssim(tiny_runs):
    result = evaluate_run(tiny_runs["vae"], n=50)
    keys = {m.key: m.value for m in result.metrics}
    assert keys["psnr_recon"] > 0 and -1 <= keys["ssim_recon"] <= 1
    assert "conditional_accuracy" not in keys and "utility_real" not in keys


def test_eval_against_a_held_out_folder(tiny_runs, tmp_path):
    from PIL import Image

    folder = tmp_path / "holdout"
    folder.mkdir()
    x = genforge.data.load_images("digits", image_size=8, seed=1).images[:30]
    for i, img in enumerate(x):
        arr = ((img[0] + 1) * 127.5).round().byte().numpy()
        Image.fromarray(arr).save(folder / f"{i}.png")
    result = evaluate_run(tiny_runs["cgan"], n=40, real=folder, utility=False)
    assert result.extra["reference"] == {"name": "held-out folder holdout", "items": 30}


def test_unknown_options_for_a_modality_are_one_clear_error(tiny_runs):
    with pytest.raises(GenforgeError, match="does not apply to image runs"):
        evaluate_run(tiny_runs["cgan"], n=20, temperature=0.7)
    with pytest.raises(GenforgeError, match="at least 10"):
        evaluate_run(tiny_runs["cgan"], n=3)


def test_keep_best_and_early_stop_during_training(tmp_path):
    pipe = genforge.train(
        "dcgan", "digits", name="watch", runs_dir=tmp_path, image_size=8, batch_size=16,
        steps=200, ngf=8, ndf=8, latent_dim=8, lr=0.0, eval_every=5, eval_samples=40,
        keep_best="fd", early_stop=2, log_every=5, sample_every=1000,
    )  # fmt: skip
    run = Run(tmp_path / "watch")
    # lr 0: the generator does not learn, so FD only wanders (BatchNorm statistics) and two
    # evaluations without a new best come soon
    evals = [r for r in run.metrics() if "eval_fd" in r]
    steps = [r["step"] for r in evals]
    assert steps == list(range(5, run.step + 1, 5)) and run.step < 200
    assert {"eval_fd", "eval_precision", "eval_recall"} <= set(evals[0])
    fds = [r["eval_fd"] for r in evals]
    best_i = min(range(len(fds)), key=fds.__getitem__)
    assert len(fds) - 1 - best_i == 2  # stopped after exactly `early_stop` evaluations
    best = json.loads((run.best_dir / "best.json").read_text())
    assert best["step"] == steps[best_i] and best["value"] == pytest.approx(fds[best_i])
    from genforge.generate.pipeline import ImagePipeline

    assert ImagePipeline(run, checkpoint="best").step == steps[best_i]
    assert pipe.step == run.step == steps[-1]


def test_eval_config_errors_are_clear(tmp_path):
    for opts, msg in (
        ({"keep_best": "fd"}, "need --eval-every"),
        ({"eval_every": 5, "keep_best": "sharpness"}, "unknown --keep-best"),
        ({"eval_every": 5, "early_stop": 2}, "needs --keep-best"),
    ):
        with pytest.raises(GenforgeError, match=msg):
            genforge.train("dcgan", "digits", runs_dir=tmp_path, image_size=8, steps=5,
                           batch_size=8, ngf=8, ndf=8, latent_dim=8, **opts)  # fmt: skip


def test_the_evaluation_reports_its_stages(tiny_runs):
    """Long evaluations say what they are doing: every stage, with counts where there are."""
    from genforge.core.progress import Stages

    class Recorder(Stages):
        def __init__(self):
            super().__init__()
            self.counts: dict[str, int] = {}

        def _advanced(self, n: int) -> None:
            self.counts[self.name] = self.done

    st = Recorder()
    evaluate_run(tiny_runs["vae"], n=20, progress=st)
    names = [name for name, _ in st.history]
    assert names[0] == "reading the run's training and held-out images"
    assert ("sampling 20 images", 20) in st.history and st.counts["sampling 20 images"] == 20
    assert any(n.startswith("memorization audit") for n in names)
    assert "reconstructions of held-out images" in names  # a VAE
