"""Dynamic batching gives the same images as unbatched sampling; the model cache."""

from __future__ import annotations

import threading

import numpy as np
import torch

from genforge.core.run import Run
from genforge.generate.pipeline import ImagePipeline
from genforge.serve.generation import Batcher, ModelCache
from genforge.serve.handlers import Request


def test_batched_equals_unbatched(runs_dir):
    cache = ModelCache()
    loaded = cache.get(Run(runs_dir / "cg"))
    pipe = ImagePipeline(Run(runs_dir / "cg"), device="cpu")
    asks = [Request(n=1 + i % 3, seed=100 + i, label=[None, "3", 5][i % 3],
                    truncation=[None, 0.7][i % 2]) for i in range(12)]  # fmt: skip
    batcher = Batcher(max_requests=64, max_wait_ms=200)
    results: list = [None] * len(asks)
    gate = threading.Barrier(len(asks))

    def ask(i):
        gate.wait()
        results[i] = batcher.submit(loaded, asks[i]).result(timeout=60)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(asks))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    batcher.close()
    assert max(batcher.batches) > 1, batcher.batches  # requests really were merged
    assert sum(batcher.batches) == len(asks)
    for a, got in zip(asks, results, strict=True):
        want = pipe.sample(a.n, seed=a.seed, label=a.label, truncation=a.truncation)
        want_u8 = ((want.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1)
        assert len(got) == a.n
        for g, w in zip(got, want_u8, strict=True):
            assert (
                torch.from_numpy(g.image).int() - w.int()
            ).abs().max() <= 1  # float rounding only


def test_a_bad_request_fails_alone(runs_dir):
    loaded = ModelCache().get(Run(runs_dir / "cg"))
    batcher = Batcher(max_requests=8, max_wait_ms=100)
    good = batcher.submit(loaded, Request(n=1, seed=1))
    bad = batcher.submit(loaded, Request(n=1, seed=2, label="cat"))
    assert len(good.result(timeout=60)) == 1
    try:
        bad.result(timeout=60)
        raise AssertionError("a bad label must fail")
    except Exception as e:
        assert "unknown class" in str(e)
    batcher.close()


def test_finish_runs_per_request_and_cancelled_requests_are_skipped(runs_dir):
    """`finish` post-processes each request on the worker (its failure is that request's
    alone); a request whose caller gave up before its batch ran is not sampled."""
    loaded = ModelCache().get(Run(runs_dir / "cg"))
    batcher = Batcher(max_requests=8, max_wait_ms=300, workers=1)
    worker = []

    def finish(outputs):
        worker.append(threading.current_thread().name)
        return [o.image.shape for o in outputs]

    def broken(outputs):
        raise ValueError("encoding failed")

    ok = batcher.submit(loaded, Request(n=2, seed=1), finish)
    gone = batcher.submit(loaded, Request(n=1, seed=2), finish)
    bad = batcher.submit(loaded, Request(n=1, seed=3), broken)
    assert gone.cancel()
    shapes = ok.result(timeout=60)
    assert len(shapes) == 2 and shapes[0] == shapes[1] and len(shapes[0]) == 3
    try:
        bad.result(timeout=60)
        raise AssertionError("finish's error must reach its caller")
    except ValueError as e:
        assert "encoding failed" in str(e)
    batcher.close()
    assert worker == ["genforge-batcher-0"]  # ok's finish, on the worker; gone never ran
    assert batcher.batches == [2]  # ok and bad in one batch, gone skipped


def test_cache_lru_and_reload(runs_dir):
    cache = ModelCache(max_mb=0)  # room for one model only
    a = cache.get(Run(runs_dir / "dc"))
    assert cache.get(Run(runs_dir / "dc")) is a and cache.loads == 1
    cache.get(Run(runs_dir / "cg"))
    assert len(cache) == 1 and cache.loads == 2
    cache.get(Run(runs_dir / "dc"))
    assert cache.loads == 3  # evicted, loaded again
    meta = runs_dir / "dc" / "model" / "meta.json"
    meta.touch()
    import os

    os.utime(meta, (meta.stat().st_atime, meta.stat().st_mtime + 5))
    cache.get(Run(runs_dir / "dc"))
    assert cache.loads == 4  # the checkpoint changed: reloaded


def test_large_outputs_are_watermarked_small_ones_not():
    import io

    import numpy as np
    from PIL import Image
    from skimage import data

    from genforge.safety import watermark
    from genforge.serve.handlers import encode_image

    big = np.asarray(Image.fromarray(data.astronaut()).resize((256, 256)))
    enc = encode_image(big, {"run": "r", "seed": 1}, "0badf00d")
    assert enc.watermarked and enc.media_type == "image/png" and enc.phash
    arr = np.asarray(Image.open(io.BytesIO(enc.content)))
    assert watermark.decode(arr, 4) == "0badf00d"
    small = encode_image(big[:64, :64], {"run": "r"}, "0badf00d")
    assert not small.watermarked
    gray = encode_image(big[:, :, :1], {}, "12345678")
    assert (
        watermark.decode(np.asarray(Image.open(io.BytesIO(gray.content)))[:, :, None], 4)
        == "12345678"
    )


def test_mixed_samplers_in_one_batch_equal_unbatched(diffusion_runs):
    """Diffusion requests with different samplers, steps, guidance and prompts share a batch;
    each gets what it gets alone (deterministic samplers group, ddpm runs per request)."""
    from genforge.serve.generation import sample_direct

    cache = ModelCache()
    cd, ti = cache.get(Run(diffusion_runs / "cd")), cache.get(Run(diffusion_runs / "ti"))
    asks = [
        (cd, Request(n=2, seed=1, sampler="ddim", steps=3)),
        (cd, Request(n=1, seed=2, sampler="dpm-solver++", steps=3, label="4")),
        (cd, Request(n=2, seed=3, sampler="ddpm", steps=3, guidance=0.0)),
        (cd, Request(n=1, seed=4, sampler="ddim", steps=3, guidance=5.0, label="1")),
        (cd, Request(n=1, seed=5, sampler="ddpm", steps=3)),
        (cd, Request(n=1, seed=6, sampler="ddim", steps=2, truncation=0.8)),
        (cd, Request(n=2, seed=1, sampler="ddim", steps=3, eta=0.5)),  # stochastic: alone
        (ti, Request(n=2, seed=7, steps=3, prompt="a handwritten seven")),
        (ti, Request(n=1, seed=8, steps=3, label=2)),
        (ti, Request(n=1, seed=9, steps=3, prompt="a handwritten two", guidance=1.0)),
    ]
    batcher = Batcher(max_requests=64, max_wait_ms=300, workers=1)
    results: list = [None] * len(asks)
    gate = threading.Barrier(len(asks))

    def ask(i):
        gate.wait()
        results[i] = batcher.submit(*asks[i]).result(timeout=120)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(asks))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    batcher.close()
    assert max(batcher.batches) >= 4, batcher.batches  # mixed settings still shared a batch
    for (loaded, req), got in zip(asks, results, strict=True):
        alone = sample_direct(loaded, req)
        assert len(got) == len(alone) == req.n
        for g, a in zip(got, alone, strict=True):
            assert np.abs(g.image.astype(int) - a.image.astype(int)).max() <= 1, req
            assert g.extra == a.extra and g.extra["steps"] == req.steps
    # different settings give different images (the settings really reach the sampler)
    first = [r[0].image for r in results[:6]]
    assert not np.array_equal(first[0], sample_direct(cd, Request(n=2, seed=1, steps=2))[0].image)


def test_bf16_generation_is_close_to_fp32(runs_dir):
    """--precision bf16 runs the forward under autocast: the images stay within a few grey
    levels of fp32 (not bit-equal: that is the trade), and a bad precision is refused."""
    import pytest

    from genforge.core.errors import GenforgeError

    fp32 = ModelCache().get(Run(runs_dir / "cg"))
    bf16 = ModelCache(precision="bf16").get(Run(runs_dir / "cg"))
    asks = [Request(n=2, seed=5, label="3"), Request(n=1, seed=9)]
    a, b = fp32.sample(asks), bf16.sample(asks)
    diffs = [
        (torch.from_numpy(x.image).float() - torch.from_numpy(y.image).float()).abs()
        for xs, ys in zip(a, b, strict=True)
        for x, y in zip(xs, ys, strict=True)
    ]
    assert max(float(d.mean()) for d in diffs) < 6  # mean grey-level difference, of 255
    assert any(float(d.max()) > 0 for d in diffs)  # autocast really ran in bf16
    with pytest.raises(GenforgeError, match="fp32 or bf16"):
        ModelCache(precision="fp16")


def test_bf16_server_records_its_precision(make_client):
    c = make_client(precision="bf16")
    r = c.post("/v1/generate", json={"run": "dc", "n": 1, "seed": 3})
    assert r.status_code == 200, r.text
    assert r.json()["outputs"][0]["params"]["precision"] == "bf16"
    r = make_client().post("/v1/generate", json={"run": "dc", "n": 1, "seed": 3})
    assert "precision" not in r.json()["outputs"][0]["params"]  # fp32: the default, unsaid


def test_batcher_settings_are_checked():
    import pytest

    from genforge.core.errors import GenforgeError

    for bad in ({"workers": 0}, {"max_requests": 0}, {"max_wait_ms": -1}):
        with pytest.raises(GenforgeError, match="at least"):
            Batcher(**bad)


def test_bf16_weights_cast_once_give_the_autocast_images(runs_dir):
    """The bf16 cache stores the generator's conv/linear weights in bf16 once; the images are
    exactly those of autocast re-casting fp32 weights on every call, and the discriminator
    (used outside autocast by best-of scoring) stays fp32."""
    from genforge.serve.generation import Loaded
    from genforge.serve.handlers import serve_handler

    run = Run(runs_dir / "cg")
    cast = ModelCache(precision="bf16").get(run)
    h = serve_handler("image")
    plain = Loaded(run, "image", "cgan", h, h.load(run, "cpu"), run.step, 0.0, 0, "bf16")
    asks = [Request(n=2, seed=5, label="3"), Request(n=1, seed=9)]
    for xs, ys in zip(cast.sample(asks), plain.sample(asks), strict=True):
        for x, y in zip(xs, ys, strict=True):
            assert np.array_equal(x.image, y.image)
    nets = cast.model.model.networks()
    dtypes = {p.dtype for p in nets["generator"].parameters()}
    assert torch.bfloat16 in dtypes  # really stored cast
    assert {p.dtype for p in nets["discriminator"].parameters()} == {torch.float32}


def test_bf16_diffusion_and_text_to_image_serve_with_cast_weights(diffusion_runs):
    """The UNets (and a t2i run's text encoder beside them) sample under the bf16 cache."""
    cache = ModelCache(precision="bf16")
    for name, ask in (("cd", Request(n=2, seed=1, label="3", steps=2)),
                      ("ti", Request(n=1, seed=2, prompt="a handwritten seven", steps=2))):  # fmt: skip
        loaded = cache.get(Run(diffusion_runs / name))
        (images,) = loaded.sample([ask])
        assert len(images) == ask.n and images[0].image.dtype == np.uint8
        unet = loaded.model.model.networks()["unet"]
        assert torch.bfloat16 in {p.dtype for p in unet.parameters()}
