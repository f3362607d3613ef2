"""Datasheets, licence terms, conflicts with a declared use, content hashes and the opt-out list."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from genforge.core.errors import GenforgeError
from genforge.data import governance as gov
from genforge.data.images import scan_image_folder


def sheet(tmp_path, text: str):
    (tmp_path / "datasheet.yaml").write_text(text)
    return gov.load_datasheet(tmp_path / "datasheet.yaml")


def test_datasheet_fields_are_read_and_the_licence_normalised(tmp_path):
    s = sheet(tmp_path, "source: my scans\nlicence: cc-by-nc-4.0\nconsent: yes\n"
                        "contains-personal-data: false\nintended_use: [research]\n")  # fmt: skip
    assert s.license == "CC-BY-NC-4.0"
    assert (s.source, s.consent, s.contains_personal_data) == ("my scans", "yes", False)
    assert s.intended_use == ["research"]


def test_unknown_spdx_id_is_one_line_naming_the_id(tmp_path):
    with pytest.raises(GenforgeError) as e:
        sheet(tmp_path, "license: CC-BY-FOO-9.0\n")
    assert "CC-BY-FOO-9.0" in str(e.value) and "\n" not in str(e.value)
    assert str(tmp_path / "datasheet.yaml") in str(e.value)


def test_licenseref_ids_are_accepted():
    assert gov.normalise_licence("MIT OR LicenseRef-our-terms") == "MIT OR LicenseRef-our-terms"


@pytest.mark.parametrize(
    ("expr", "nc", "nd"),
    [
        ("CC-BY-NC-4.0", True, False),
        ("CC-BY-ND-4.0", False, True),
        ("CC-BY-NC-ND-4.0", True, True),
        ("CC-BY-NC-4.0 OR MIT", False, False),  # the user may pick MIT
        ("CC-BY-NC-4.0 AND MIT", True, False),  # both bind
        ("MIT", False, False),
    ],
)
def test_licence_terms_follow_or_and_semantics(expr, nc, nd):
    t = gov.licence_terms(expr)
    assert (t.non_commercial, t.no_derivatives) == (nc, nd)


def test_conflicts_with_the_declared_use(tmp_path):
    nc = gov.Datasheet("x", "CC-BY-NC-4.0")
    assert any("commercial" in c for c in gov.conflicts(nc, "commercial"))
    assert gov.conflicts(nc, "research") == []
    nd = gov.Datasheet("x", "CC-BY-ND-4.0")
    assert any("derivative" in c for c in gov.conflicts(nd, "research"))
    refused = gov.Datasheet("x", "MIT", consent="no")
    assert any("consent" in c for c in gov.conflicts(refused, "research"))
    assert gov.conflicts(None, "commercial") == []


def test_embedded_sets_carry_their_known_licence():
    d = gov.datasheet_of("digits", embedded=True)
    assert d is not None and d.license == "CC-BY-4.0" and d.path == "embedded"
    for name, (_, licence) in gov.EMBEDDED_LICENCES.items():
        assert gov.normalise_licence(licence, name)  # every table entry is valid SPDX


def test_content_hash_changes_with_any_file(tmp_path):
    for i in range(3):
        (tmp_path / f"{i}.txt").write_text(f"doc {i}")
    files = sorted(tmp_path.glob("*.txt"))
    before = gov.content_hash(files, tmp_path)
    assert before["files"] == 3
    (tmp_path / "1.txt").write_text("doc 1, edited")
    assert gov.content_hash(files, tmp_path)["sha256"] != before["sha256"]


def _structured(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.random((8, 8)) * 255).astype(np.uint8).repeat(4, 0).repeat(4, 1)


def test_optout_skips_exact_and_perceptual_copies(tmp_path, monkeypatch):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(4):
        Image.fromarray(_structured(i)).save(folder / f"{i}.png")
    listed = tmp_path / "listed"
    listed.mkdir()
    # a resized JPEG copy of 2.png: a different file, the same picture
    Image.fromarray(_structured(2)).resize((48, 48)).save(listed / "b.jpg", quality=80)
    optout = tmp_path / "optout.txt"
    optout.write_text("\n".join(gov.optout_entries([folder / "1.png", listed / "b.jpg"])) + "\n")
    monkeypatch.setenv(gov.OPTOUT_ENV, str(optout))
    scan = scan_image_folder(folder)
    kept = sorted(e.path.name for e in scan.entries)
    assert kept == ["0.png", "3.png"]
    why = {s.path: s.reason for s in scan.skipped}
    assert "exact copy" in why["1.png"] and "perceptually" in why["2.png"]
    assert scan.content["files"] == 2


def test_bad_optout_line_is_one_line_error(tmp_path):
    p = tmp_path / "optout.txt"
    p.write_text("sha256:nothex\n")
    with pytest.raises(GenforgeError, match=r"optout.txt:1"):
        gov.load_optout(p)
