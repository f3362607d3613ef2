from __future__ import annotations

import pytest
import torch

from genforge.core.errors import GenforgeError
from genforge.evaluate import features as ft
from genforge.evaluate import image_metrics as im


def test_domain_network_is_cached_and_reused(digits16, tmp_path, monkeypatch):
    monkeypatch.setenv("GENFORGE_CACHE", str(tmp_path / "cache"))
    x, y, vx, vy = digits16
    first = ft.domain_space(x[:300], y[:300], "digits", steps=20, val=(vx, vy))
    assert first.info["cached"] is False and "val_accuracy" in first.info
    assert first.label == "domain classifier, digits"

    def must_not_train(*a, **k):
        raise AssertionError("the cached domain network was retrained")

    monkeypatch.setattr(ft, "train_domain_net", must_not_train)
    second = ft.domain_space(x[:300], y[:300], "digits", steps=20)
    assert second.info["cached"] is True
    assert torch.equal(first.features(vx[:16]), second.features(vx[:16]))
    with pytest.raises(AssertionError):  # other data: another fingerprint, trains again
        ft.domain_space(x[:200], y[:200], "digits", steps=20)


def test_unlabeled_data_gets_an_autoencoder(digits16, tmp_path, monkeypatch):
    monkeypatch.setenv("GENFORGE_CACHE", str(tmp_path / "cache"))
    x, _, vx, _ = digits16
    space = ft.domain_space(x[:200], None, "scans", steps=10, val=(vx[:50], None))
    assert space.kind == "domain-autoencoder" and space.label == "domain autoencoder, scans"
    assert space.logits(vx[:4]) is None and space.features(vx[:4]).shape == (4, 128)


def test_feature_space_never_claims_inception_without_its_weights(digits16, tmp_path, monkeypatch):
    monkeypatch.setenv("GENFORGE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("GENFORGE_INCEPTION_WEIGHTS", raising=False)
    x, y, _, _ = digits16
    space = ft.feature_space("auto", x[:100], y[:100], "digits", domain_steps=5)
    assert space.kind == "domain-classifier"
    with pytest.raises(GenforgeError, match="never downloads"):
        ft.feature_space("inception", x[:100], y[:100], "digits")
    with pytest.raises(GenforgeError, match="not found"):
        ft.feature_space("auto", x[:100], y[:100], "digits", inception_weights=tmp_path / "no.pth")


def _random_inception_weights(path):
    """A state dict with InceptionV3's exact layout and random values (no download)."""
    from unittest import mock

    from torch_fidelity import feature_extractor_inceptionv3 as fe

    with (
        mock.patch.object(fe, "load_state_dict_from_url", return_value={}),
        mock.patch.object(torch.nn.Module, "load_state_dict", return_value=None),
    ):
        net = fe.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    torch.save(net.state_dict(), path)


def test_inception_space_uses_a_local_weights_file(tmp_path, monkeypatch):
    pytest.importorskip("torch_fidelity.feature_extractor_inceptionv3")
    weights = tmp_path / ft.INCEPTION_FILE
    _random_inception_weights(weights)
    monkeypatch.setenv("GENFORGE_INCEPTION_WEIGHTS", str(weights))
    g = torch.Generator().manual_seed(0)
    images = torch.rand(6, 1, 16, 16, generator=g) * 2 - 1
    space = ft.feature_space("auto", images, None, "digits")
    assert space.kind == "inception" and space.label == "Inception"
    feats = space.features(images, batch_size=3)
    assert feats.shape == (6, 2048) and feats.dtype == torch.float64
    assert space.logits(images[:2]).shape == (2, 1008)
    assert im.frechet_distance(feats[:3], feats[3:]) >= 0


def test_inception_weights_are_never_unpickled_freely(tmp_path):
    pytest.importorskip("torch_fidelity.feature_extractor_inceptionv3")

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    bad = tmp_path / "evil.pth"
    torch.save({"x": Evil()}, bad)
    with pytest.raises(GenforgeError, match="cannot read Inception weights"):
        ft.InceptionSpace(bad)
