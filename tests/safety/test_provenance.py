"""Provenance store and detection: watermark, pHash lookup, nothing."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image
from skimage import data

from genforge.core.images import hamming, phash
from genforge.safety import watermark
from genforge.safety.detect import detect
from genforge.safety.provenance import ProvenanceStore


def png(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def record(store, arr, oid, marked=False):
    content = png(arr)
    store.add(oid, who="t", run="r", modality="image", params={"seed": 1}, content=content,
              phash_hex=phash(Image.fromarray(arr)), watermarked=marked, path="x")  # fmt: skip
    return content


def test_phash_is_robust_and_flat_images_have_none():
    cam = Image.fromarray(data.camera()).resize((64, 64))
    buf = io.BytesIO()
    cam.save(buf, format="JPEG", quality=75)
    assert hamming(phash(cam), phash(Image.open(buf))) <= 4
    assert hamming(phash(cam), phash(cam.resize((32, 32)))) <= 6
    other = Image.fromarray(data.coins()).resize((64, 64))
    assert hamming(phash(cam), phash(other)) > 16
    assert phash(Image.new("L", (16, 16), 128)) is None


def test_detect_by_watermark_after_jpeg(tmp_path):
    store = ProvenanceStore(tmp_path / "db.sqlite")
    photo = np.asarray(Image.fromarray(data.astronaut()).resize((256, 256)))
    oid = store.new_id()
    marked = watermark.embed(photo, oid)
    record(store, marked, oid, marked=True)
    record(store, np.asarray(Image.fromarray(data.chelsea()).resize((256, 256))), store.new_id())
    buf = io.BytesIO()
    Image.fromarray(marked).save(buf, format="JPEG", quality=75)
    d = detect(buf.getvalue(), store)
    assert d.found and d.evidence == "watermark" and d.record.id == oid


def test_detect_small_output_by_phash(tmp_path):
    store = ProvenanceStore(tmp_path / "db.sqlite")
    small = np.asarray(Image.fromarray(data.camera()).resize((64, 64)))
    oid = store.new_id()
    record(store, small, oid)
    buf = io.BytesIO()
    Image.fromarray(small).save(buf, format="JPEG", quality=75)
    d = detect(buf.getvalue(), store)
    assert d.found and d.evidence == "phash" and d.record.id == oid and d.distance <= 8
    assert "evidence: phash" in d.message
    rng = np.random.default_rng(0)
    d = detect(png(rng.integers(0, 255, (64, 64), dtype=np.uint8)), store)
    assert not d.found and d.message == "no genforge watermark"


def test_search_lists_newest_first_even_within_one_millisecond(tmp_path):
    """A batch's records share a timestamp; the later-inserted one must still come first."""
    store = ProvenanceStore(tmp_path / "p.sqlite")
    recs = [
        store.record(
            oid,
            who="t",
            run="r",
            modality="image",
            params={"index": i},
            content=bytes([i]),
            phash_hex=None,
            watermarked=False,
            path=f"{oid}.png",
        )
        for i, oid in enumerate(["ff" * 6, "00" * 6, "7f" * 6])
    ]
    for r in recs:
        r.created = recs[0].created  # same millisecond
    store.add_many(recs)
    got, total = store.search()
    assert total == 3
    assert [r.params["index"] for r in got] == [2, 1, 0]


def test_reads_and_new_ids_do_not_wait_for_a_writer(tmp_path):
    """A gallery page or an id draw must not queue behind another thread's open write
    transaction (they used to take the write lock themselves, and wait up to 30 s)."""
    import threading

    from genforge.safety.provenance import connect

    store = ProvenanceStore(tmp_path / "p.sqlite")
    content = record(store, np.zeros((8, 8, 3), np.uint8), "aa" * 6)
    writing, done = threading.Event(), threading.Event()

    def writer():
        with connect(store.db_path) as con:  # holds the write lock until `done`
            con.execute("UPDATE outputs SET who='w' WHERE id=?", ("aa" * 6,))
            writing.set()
            done.wait(30)

    w = threading.Thread(target=writer)
    w.start()
    assert writing.wait(10)
    got = []
    r = threading.Thread(target=lambda: got.extend([store.get("aa" * 6), store.new_id(),
                                                    store.search()[1], store.count()]))  # fmt: skip
    r.start()
    r.join(timeout=10)
    finished = not r.is_alive()
    done.set()
    w.join()
    r.join()
    assert finished, "a read waited for the writer's lock"
    rec, oid, total, count = got
    assert rec.who == "t" and rec.sha256 == store.get("aa" * 6).sha256  # the committed row
    assert len(oid) == 8 and total == count == 1
    assert store.by_sha256(__import__("hashlib").sha256(content).hexdigest()).who == "w"
