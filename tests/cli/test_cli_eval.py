"""`genforge eval`, `compare`, `sample --best-of`, `train --eval-every`: end to end in-process."""

from __future__ import annotations

import json
import shutil

from genforge.core.images import read_png_params


def test_eval_writes_report_and_metrics(cli, cgan_run, tmp_path):
    run = tmp_path / "r"
    shutil.copytree(cgan_run, run)
    out = cli.ok("eval", run, "--n", "60", "--no-utility", "--domain-steps", "30").output
    assert "FD (domain classifier, digits)" in out and "FID" not in out
    assert (run / "report.html").exists()
    saved = json.loads((run / "metrics.json").read_text())
    assert saved["feature_space"]["kind"] == "domain-classifier"
    assert "conditional_accuracy" in saved["values"]


def test_eval_errors_are_one_line(cli, cgan_run, tmp_path):
    assert "at least 10" in cli.fails("eval", cgan_run, "--n", "2")
    assert "never downloads" in cli.fails("eval", cgan_run, "--features", "inception")
    assert "not found" in cli.fails("eval", cgan_run, "--inception-weights", tmp_path / "x.pth")
    assert "run" in cli.fails("eval", "no-such-run")


def test_compare_renders_two_runs_side_by_side(cli, cgan_run, dcgan_run, tmp_path):
    runs = []
    for src in (cgan_run, dcgan_run):
        dst = tmp_path / src.name
        shutil.copytree(src, dst)
        cli.ok("eval", dst, "--n", "30", "--no-utility", "--domain-steps", "30")
        runs.append(dst)
    out = cli.ok("compare", *runs, "--out", tmp_path / "cmp.html").output
    assert "tiny-cgan" in out and "tiny-dcgan" in out
    page = (tmp_path / "cmp.html").read_text()
    assert page.count("data:image/png;base64,") >= 3 and "<b>" in page
    assert "at least two" in cli.fails("compare", runs[0])


def test_sample_through_the_quality_gate(cli, cgan_run, tmp_path):
    out = cli.ok(
        "sample", cgan_run, "--n", "6", "--best-of", "4", "--min-score", "0.0",
        "--out-dir", tmp_path / "kept", "--runs-dir", tmp_path,
    ).output  # fmt: skip
    # in plain words: all 6 kept, and every candidate drawn cleared the bar of 0
    assert "kept 6 of 6 requested; drew 16 candidates" in out
    assert "16 of the 16 (100.0%) scored at least 0" in out
    files = sorted((tmp_path / "kept").glob("*.png"))
    assert len(files) == 6
    params = read_png_params(files[0])
    assert params["best_of"] == 4 and 0.0 <= params["score"] <= 1.0
    assert "min-score" in cli.fails("sample", cgan_run, "--best-of", "2", "--min-score", "3")


def test_train_with_evaluation_keeps_the_best_checkpoint(cli, tmp_path):
    run = cli.train(
        "dcgan", tmp_path, "watched", "--steps", "6", "--eval-every", "3", "--keep-best", "fid",
        "--set", "eval_samples=30",
    )  # fmt: skip
    evals = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in evals if "eval_fd" in r] == [3, 6]
    assert (run / "best" / "best.json").exists()
    cli.ok("sample", run, "--checkpoint", "best", "--n", "4", "--grid", tmp_path / "b.png")
    assert "need --eval-every" in cli.fails(
        "train", "dcgan", "--keep-best", "fd", "--runs-dir", tmp_path, *cli.tiny("dcgan")
    )


def test_sample_on_a_text_run_points_to_generate_text(cli, tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the quick brown fox jumps over the lazy dog. " * 40)
    cli.ok("train", "ngram", "--data", corpus, "--name", "ng", "--runs-dir", tmp_path,
           "--set", "n=3")  # fmt: skip
    msg = cli.fails("sample", "ng", "--runs-dir", tmp_path, "--n", "2")
    assert "genforge generate text ng" in msg


def test_eval_on_a_super_resolution_run(cli, tmp_path):
    """sr runs are scored on their held-out images next to bicubic; misuse is one line."""
    runs = tmp_path / "runs"
    cli.ok("train", "sr", "--data", "digits", "--name", "sr", "--runs-dir", runs,
           "--image-size", "16", "--steps", "2", "--batch-size", "8", "--set", "scale=2",
           "--set", "block_out_channels=[8,16]", "--set", "norm_num_groups=4",
           "--set", "preview_steps=2")  # fmt: skip
    out = cli.ok("eval", "sr", "--runs-dir", runs, "--n", "4", "--steps", "2").output
    assert "PSNR x2 bicubic vs ground truth (dB)" in out
    saved = json.loads((runs / "sr" / "metrics.json").read_text())
    assert {"psnr_sr", "ssim_sr", "psnr_bicubic", "ssim_bicubic"} <= set(saved["values"])
    assert "--restoration needs" in cli.fails("eval", "sr", "--runs-dir", runs, "--restoration")


def test_restoration_on_a_gan_run_is_one_line(cli, cgan_run):
    assert "run 'tiny-cgan' is a cgan" in cli.fails("eval", cgan_run, "--restoration")
    assert "--sampler and --steps apply" in cli.fails("eval", cgan_run, "--sampler", "ddpm")


def test_eval_with_restoration_adds_to_the_sampling_metrics(cli, ddpm_run, tmp_path):
    run = tmp_path / "r"
    shutil.copytree(ddpm_run, run)
    cli.ok("eval", run, "--n", "10", "--no-utility", "--domain-steps", "5", "--restoration",
           "--steps", "2")  # fmt: skip
    values = json.loads((run / "metrics.json").read_text())["values"]
    assert {"fd_domain", "psnr_inpaint_box", "psnr_sdedit", "psnr_noisy"} <= set(values)
    assert values["inpaint_kept_max_abs"] < 1e-3
    assert (run / "inpainted.png").exists() and (run / "denoised.png").exists()
