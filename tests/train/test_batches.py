import torch

from genforge.data import load_images
from genforge.train.batches import Batches


def test_epochs_cover_every_image_once_and_resume_exactly():
    data = load_images("digits", 8)
    n = len(data)
    b = Batches(data, 100, seed=0, device=torch.device("cpu"))
    seen = torch.cat([b()[1] for _ in range(n // 100)])
    assert seen.shape == (n // 100 * 100,)
    state = b.state_dict()
    expected = [b() for _ in range(30)]  # crosses an epoch boundary
    again = Batches(data, 100, seed=0, device=torch.device("cpu"))
    again.load_state_dict(state)
    for (x1, y1), (x2, y2) in zip(expected, [again() for _ in range(30)], strict=True):
        assert torch.equal(x1, x2) and torch.equal(y1, y2)


def test_streaming_folder_gives_the_same_batches_as_memory(tmp_path):
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for c in ("a", "b"):
        (tmp_path / c).mkdir()
        for i in range(6):
            Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(
                tmp_path / c / f"{i}.png"
            )
    mem = load_images(str(tmp_path), 8)
    stream = load_images(str(tmp_path), 8, max_memory_bytes=1)
    assert mem.in_memory and not stream.in_memory
    bm = Batches(mem, 4, seed=3, device=torch.device("cpu"))
    bs = Batches(stream, 4, seed=3, device=torch.device("cpu"), num_workers=0)
    for _ in range(5):
        (xm, ym), (xs, ys) = bm(), bs()
        assert torch.allclose(xm, xs) and torch.equal(ym, ys)
