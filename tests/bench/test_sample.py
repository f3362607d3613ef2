def test_bench_sample_times_each_sampler(cli, ddpm_run):
    out = cli.ok(
        "bench", "sample", "--run", "tiny-ddpm", "--runs-dir", ddpm_run.parent,
        "--samplers", "ddpm:3,ddim:2,dpm-solver++:2", "--n", "2", "--repeats", "2", "--no-fd",
    ).output  # fmt: skip
    cells = [line.replace("│", " ").split() for line in out.splitlines()]
    rows = [c for c in cells if c[:1] in (["ddpm"], ["ddim"], ["dpm-solver++"])]
    assert [r[:2] for r in rows] == [["ddpm", "3"], ["ddim", "2"], ["dpm-solver++", "2"]]
    assert all(float(r[2].replace(",", "")) > 0 for r in rows)  # images/s
    assert rows[0][4] == "1.0x"


def test_bench_sample_bad_input(cli, ddpm_run):
    runs = ddpm_run.parent
    assert "needs --run" in cli.fails("bench", "sample")
    assert "is a ddpm run, not cddpm" in cli.fails(
        "bench", "sample", "--run", "tiny-ddpm", "--runs-dir", runs, "--model", "cddpm"
    )
    assert "unknown sampler 'heun'" in cli.fails(
        "bench", "sample", "--run", "tiny-ddpm", "--runs-dir", runs, "--samplers", "heun:5"
    )


def test_bench_sample_reports_fd_and_conditional_accuracy(cli, cddpm_run):
    out = cli.ok(
        "bench", "sample", "--run", "tiny-cddpm", "--runs-dir", cddpm_run.parent, "--model",
        "cddpm", "--samplers", "ddim:2,dpm-solver++:2", "--n", "10", "--repeats", "1",
    ).output  # fmt: skip
    cells = [line.replace("│", " ").split() for line in out.splitlines()]
    rows = [c for c in cells if c[:1] in (["ddim"], ["dpm-solver++"])]
    assert len(rows) == 2
    for r in rows:
        assert float(r[5]) >= 0  # FD
        assert 0 <= float(r[7].rstrip("%")) <= 100  # conditional accuracy
    assert rows[0][6] == "+0%"
    assert "FD:" in out  # the metric's own label


def test_bench_sample_prints_the_real_floor_and_takes_guidance(cli, cddpm_run, ddpm_run):
    import torch

    from genforge.bench.sample import bench_sampler
    from genforge.core.run import Run

    out = cli.ok(
        "bench", "sample", "--run", "tiny-cddpm", "--runs-dir", cddpm_run.parent, "--model",
        "cddpm", "--samplers", "ddim:2", "--n", "4", "--repeats", "1", "--guidance", "1",
    ).output  # fmt: skip
    assert "held-out real images to the same reference" in out
    run = Run(cddpm_run)
    plain, guided = (bench_sampler(run, "ddim", 2, 4, 1, "cpu", guidance=g).images for g in (0, 5))
    assert not torch.allclose(plain, guided)  # the scale reaches the sampler
    assert "needs a class-conditional" in cli.fails(
        "bench", "sample", "--run", "tiny-ddpm", "--runs-dir", ddpm_run.parent,
        "--samplers", "ddim:2", "--n", "2", "--guidance", "2", "--no-fd",
    )  # fmt: skip


def test_bench_sample_times_a_video_run_in_clips_per_second(cli, tmp_path):
    runs = tmp_path / "runs"
    cli.ok("train", "cvdm", "--data", "moving-digits", "--image-size", "8", "--frames", "4",
           "--steps", "1", "--batch-size", "4", "--name", "v", "--runs-dir", runs,
           "--set", "block_out_channels=[8,16]", "--set", "preview_steps=2")  # fmt: skip
    out = cli.ok("bench", "sample", "--run", "v", "--runs-dir", runs, "--model", "cvdm",
                 "--samplers", "ddpm:20,ddim:2", "--n", "2", "--repeats", "2").output  # fmt: skip
    assert "clips/s" in out and "2 clips x 2 repeats" in out
    cells = [line.replace("│", " ").split() for line in out.splitlines()]
    rows = [c for c in cells if c[:1] in (["ddpm"], ["ddim"])]
    assert [r[:2] for r in rows] == [["ddpm", "20"], ["ddim", "2"]]
    ddpm, ddim = (float(r[2].replace(",", "")) for r in rows)
    assert ddim > ddpm > 0  # 2 steps draw clips faster than 20
    assert rows[0][5] == "-"  # no FD for clips: genforge eval scores them
    assert "genforge eval" in cli.fails("bench", "sample", "--run", "v", "--runs-dir", runs,
                                        "--model", "cvdm", "--samplers", "ddim:2", "--fd")  # fmt: skip


def test_slow_rates_keep_three_significant_digits():
    from genforge.bench.sample import rate

    assert rate(0.02941) == "0.0294"  # 1000-step DDPM clips/s: not rounded to 0.03
    assert rate(0.5912) == "0.591"
    assert rate(1234.567) == "1,234.57"
