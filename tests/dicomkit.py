"""A DICOM file built in the test with pydicom: CT-like pixels, identifying tags, a private tag."""

from __future__ import annotations

from pathlib import Path

import numpy as np

# stored values; with intercept -1024 they are -1024, 0, 40, 1024 HU
STORED = np.array([[0, 1024], [1064, 2048]], dtype=np.uint16)


def make_dicom(
    path: Path,
    pixels: np.ndarray = STORED,
    photometric: str = "MONOCHROME2",
    window: tuple[float, float] | None = (40.0, 400.0),
    preamble: bool = True,
) -> Path:
    """A small CT-like DICOM file with identifying tags and a private tag."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = "1.2.3.4.5"
    ds.SeriesInstanceUID = "1.2.3.4.5.6"
    ds.Modality = "CT"
    ds.PatientName = "Doe^Jane"
    ds.PatientID = "MRN-0042"
    ds.PatientBirthDate = "19700101"
    ds.PatientAddress = "1 Main Street"
    ds.InstitutionName = "General Hospital"
    ds.ReferringPhysicianName = "House^Gregory"
    ds.StudyDate = "20240101"
    ds.add_new(0x00090010, "LO", "ACME")  # private creator
    ds.add_new(0x00091001, "LO", "Doe secret note")  # private element
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.RescaleSlope = 1
    ds.RescaleIntercept = -1024
    if window is not None:
        ds.WindowCenter, ds.WindowWidth = window
    ds.PixelData = pixels.astype(np.uint16).tobytes()
    ds.save_as(path, enforce_file_format=preamble)
    return path
