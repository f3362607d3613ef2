from __future__ import annotations

import numpy as np
import pytest

pydicom = pytest.importorskip("pydicom")

from dicomkit import make_dicom  # noqa: E402
from genforge.core.errors import GenforgeError  # noqa: E402
from genforge.data.dicom import (  # noqa: E402
    PRIVATE,
    apply_window,
    deidentify,
    is_dicom,
    parse_window,
    read_dicom,
)


def test_is_dicom_by_extension_or_preamble(tmp_path):
    no_ext = make_dicom(tmp_path / "scan")  # DICM marker, no extension
    assert is_dicom(no_ext) and is_dicom(tmp_path / "x.DCM")
    (tmp_path / "a.png").write_bytes(b"\x89PNG" + bytes(200))
    assert not is_dicom(tmp_path / "a.png")


def test_rescale_and_file_window(tmp_path):
    got = read_dicom(make_dicom(tmp_path / "a.dcm"), salt="s")
    assert not isinstance(got, str)
    assert got.window == (40.0, 400.0) and got.window_source == "file"
    # -1024 HU below the window -> 0; 0 HU -> (0 - 39.5) / 399 + 0.5 -> 102; 40 HU -> 128; 1024 -> 255
    assert got.pixels.tolist() == [[0, 102], [128, 255]]


def test_window_option_overrides_file_and_min_max_without_one(tmp_path):
    opt = read_dicom(make_dicom(tmp_path / "a.dcm"), salt="s", window=(0.0, 2049.0))
    assert opt.window_source == "option"
    assert opt.pixels.tolist() == [[0, 128], [133, 255]]  # -1024 .. 1024 HU spread linearly
    plain = read_dicom(make_dicom(tmp_path / "b.dcm", window=None), salt="s")
    assert plain.window_source == "min-max" and plain.window is None
    assert plain.pixels.tolist() == [[0, 128], [132, 255]]  # (40 + 1024) / 2048 * 255 = 132.48


def test_monochrome1_is_inverted(tmp_path):
    m2 = read_dicom(make_dicom(tmp_path / "a.dcm"), salt="s")
    m1 = read_dicom(make_dicom(tmp_path / "b.dcm", photometric="MONOCHROME1"), salt="s")
    assert (m1.pixels.astype(int) == 255 - m2.pixels.astype(int)).all()


def test_deidentification_removes_identity_and_logs_no_values(tmp_path):
    path = make_dicom(tmp_path / "a.dcm")
    ds = pydicom.dcmread(path)
    old_study = ds.StudyInstanceUID
    actions = deidentify(ds, salt="secret")
    text = str(ds) + str(ds.file_meta)
    for value in ("Doe", "MRN-0042", "19700101", "Main Street", "General Hospital", "House",
                  "20240101", "1.2.3.4.5", "ACME"):  # fmt: skip
        assert value not in text, value
    assert actions["PatientName"] == "emptied" and actions["PatientID"] == "pseudonymised"
    assert actions["InstitutionName"] == "removed" and actions["StudyInstanceUID"] == "uid-remapped"
    assert actions[PRIVATE] == "removed" and actions["MediaStorageSOPInstanceUID"] == "uid-remapped"
    assert ds.PatientIdentityRemoved == "YES"
    assert all(isinstance(a, str) and "Doe" not in a for a in actions.values())
    # same salt, same pseudonyms: images of one patient / study stay together
    again = pydicom.dcmread(path)
    deidentify(again, salt="secret")
    assert again.StudyInstanceUID == ds.StudyInstanceUID != old_study
    assert again.PatientID == ds.PatientID
    other = pydicom.dcmread(path)
    deidentify(other, salt="another")
    assert other.PatientID != ds.PatientID


def test_read_keeps_only_deidentified_tags(tmp_path):
    got = read_dicom(make_dicom(tmp_path / "a.dcm"), salt="s")
    assert got.tags["Modality"] == "CT" and got.tags["PatientID"].startswith("anon-")
    assert "Doe" not in str(got.tags) and "PatientName" not in got.tags


def test_corrupt_files_give_a_reason(tmp_path):
    garbage = tmp_path / "bad.dcm"
    garbage.write_bytes(b"not a dicom at all" * 10)
    assert isinstance(read_dicom(garbage, salt="s"), str)
    good = make_dicom(tmp_path / "cut.dcm").read_bytes()
    (tmp_path / "cut.dcm").write_bytes(good[:-5])  # pixel data cut short
    reason = read_dicom(tmp_path / "cut.dcm", salt="s")
    assert isinstance(reason, str) and reason


def test_apply_window_and_parse_window():
    assert apply_window(np.array([-1000.0, 40.0, 1000.0]), 40, 400).round().tolist() == [
        0,
        128,
        255,
    ]
    assert parse_window("40,400") == (40.0, 400.0) and parse_window(None) is None
    with pytest.raises(GenforgeError, match="center,width"):
        parse_window("40")
    with pytest.raises(GenforgeError, match="width must be > 0"):
        parse_window("40,0")
