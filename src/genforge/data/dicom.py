"""DICOM source: read one file to display pixels and strip the patient's identity from its tags.

Pixels follow the DICOM display pipeline (PS3.3 C.11): stored values -> modality LUT
(RescaleSlope/RescaleIntercept, e.g. to Hounsfield units) -> VOI window (the caller's
center/width, else the file's WindowCenter/WindowWidth, else the image's min..max) -> 8-bit
gray, inverted for MONOCHROME1 (where high values are dark). Only single-frame gray or RGB
images are read; anything else is a skip reason, never a crash.

De-identification follows the spirit of the Basic Application Level Confidentiality Profile
(PS3.15 Annex E): identifying attributes are removed or emptied, the patient id becomes a
salted pseudonym (same patient, same pseudonym within one salt), UIDs are remapped with
`pydicom.uid.generate_uid(entropy_srcs=...)` under pydicom's root (deterministic per salt, so series stay grouped),
private tags go with pydicom's `remove_private_tags`. What was done is logged per tag, never
with the value.
"""

from __future__ import annotations

import hashlib
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from genforge.core.errors import GenforgeError

Action = Literal["removed", "emptied", "pseudonymised", "uid-remapped"]

# keyword -> action. Removed: attributes that identify a person, place or device and that no
# training pipeline needs. Emptied: type-2 attributes the standard wants present but that may be
# blank (names, dates). Patient id: a pseudonym keeps images of one patient together (for
# patient-level splits) without the id itself.
DEID_ACTIONS: dict[str, Action] = {
    "PatientName": "emptied",
    "PatientID": "pseudonymised",
    "PatientBirthDate": "emptied",
    "PatientBirthTime": "removed",
    "PatientSex": "emptied",
    "PatientAge": "removed",
    "PatientSize": "removed",
    "PatientWeight": "removed",
    "PatientAddress": "removed",
    "PatientTelephoneNumbers": "removed",
    "PatientMotherBirthName": "removed",
    "OtherPatientIDs": "removed",
    "OtherPatientIDsSequence": "removed",
    "OtherPatientNames": "removed",
    "PatientBirthName": "removed",
    "MilitaryRank": "removed",
    "EthnicGroup": "removed",
    "Occupation": "removed",
    "AdditionalPatientHistory": "removed",
    "PatientComments": "removed",
    "MedicalRecordLocator": "removed",
    "ResponsiblePerson": "removed",
    "InstitutionName": "removed",
    "InstitutionAddress": "removed",
    "InstitutionalDepartmentName": "removed",
    "StationName": "removed",
    "ReferringPhysicianName": "emptied",
    "ReferringPhysicianAddress": "removed",
    "ReferringPhysicianTelephoneNumbers": "removed",
    "PerformingPhysicianName": "removed",
    "NameOfPhysiciansReadingStudy": "removed",
    "PhysiciansOfRecord": "removed",
    "OperatorsName": "removed",
    "RequestingPhysician": "removed",
    "AccessionNumber": "emptied",
    "StudyID": "emptied",
    "StudyDate": "emptied",
    "SeriesDate": "removed",
    "AcquisitionDate": "removed",
    "ContentDate": "removed",
    "StudyTime": "emptied",
    "SeriesTime": "removed",
    "AcquisitionTime": "removed",
    "ContentTime": "removed",
    "AcquisitionDateTime": "removed",
    "DeviceSerialNumber": "removed",
    "StudyDescription": "removed",
    "SeriesDescription": "removed",
    "RequestAttributesSequence": "removed",
    "StudyInstanceUID": "uid-remapped",
    "SeriesInstanceUID": "uid-remapped",
    "SOPInstanceUID": "uid-remapped",
    "FrameOfReferenceUID": "uid-remapped",
    "MediaStorageSOPInstanceUID": "uid-remapped",  # file meta
}
PRIVATE = "(private tags)"
# De-identified attributes worth keeping next to the pixels (PNG metadata of a staged file).
KEPT = ("Modality", "BodyPartExamined", "PatientID", "StudyInstanceUID", "SeriesInstanceUID",
        "SOPInstanceUID", "PixelSpacing", "PhotometricInterpretation")  # fmt: skip


@dataclass
class DicomImage:
    pixels: np.ndarray  # (H, W) or (H, W, 3) uint8, ready to save as PNG
    window: tuple[float, float] | None  # (center, width) applied; None: min..max
    window_source: Literal["option", "file", "min-max", "none"]
    actions: dict[str, Action]  # tag keyword -> what de-identification did
    tags: dict[str, str]  # de-identified attributes from KEPT that the file has


@dataclass
class DeidLog:
    """How many files had each tag removed, emptied, pseudonymised or remapped (no values)."""

    counts: Counter[tuple[str, str]] = field(default_factory=Counter)  # (keyword, action) -> n

    def add(self, actions: dict[str, Action]) -> None:
        self.counts.update(actions.items())

    def rows(self) -> list[list[Any]]:
        """[tag, keyword, action, files] sorted by tag number (private tags last)."""
        from pydicom.datadict import tag_for_keyword

        out = []
        for (kw, action), n in self.counts.items():
            tag = tag_for_keyword(kw)
            shown = (
                f"({tag >> 16:04X},{tag & 0xFFFF:04X})" if tag is not None else "(gggg,eeee) odd"
            )
            out.append([shown, kw, action, n])
        return sorted(out, key=lambda r: (r[1] == PRIVATE, r[0]))


def is_dicom(path: Path) -> bool:
    """A .dcm/.dicom file, or any file with the 'DICM' marker after the 128-byte preamble."""
    if path.suffix.lower() in (".dcm", ".dicom"):
        return True
    try:
        with open(path, "rb") as f:
            head = f.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:] == b"DICM"


def pseudonym(value: str, salt: str) -> str:
    return "anon-" + hashlib.sha256(f"{salt}:{value}".encode()).hexdigest()[:12]


def deidentify(ds: Any, salt: str) -> dict[str, Action]:
    """Strip identifying attributes from pydicom Dataset `ds` in place; return what was done.

    Args:
        ds: a pydicom Dataset (FileDataset: its file meta is handled too).
        salt: secret of this conversion; pseudonyms and new UIDs depend on it.
    """
    from pydicom.uid import generate_uid

    done: dict[str, Action] = {}
    for kw, action in DEID_ACTIONS.items():
        holder = ds
        if kw.startswith("MediaStorage"):
            holder = getattr(ds, "file_meta", None)
            if holder is None:
                continue
        if kw not in holder:
            continue
        if action == "removed":
            delattr(holder, kw)
        elif action == "emptied":
            holder.data_element(kw).value = ""
        elif action == "pseudonymised":
            setattr(holder, kw, pseudonym(str(holder.data_element(kw).value), salt))
        else:  # uid-remapped: under pydicom's root, a hash of (salt, old UID)
            old = str(holder.data_element(kw).value)
            setattr(holder, kw, generate_uid(entropy_srcs=[salt, old]))
        done[kw] = action
    if any(elem.tag.is_private for elem in ds.iterall()):
        ds.remove_private_tags()  # pydicom: every odd-group element, nested sequences too
        done[PRIVATE] = "removed"
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = "genforge medical-augment: PS3.15 E.1 basic profile subset"
    return done


def _window_of(ds: Any) -> tuple[float, float] | None:
    """The file's first (WindowCenter, WindowWidth) pair, or None when it has none."""
    if "WindowCenter" not in ds or "WindowWidth" not in ds:
        return None

    def first(v: Any) -> float:
        return float(v[0] if hasattr(v, "__len__") and not isinstance(v, str) else v)

    try:
        c, w = first(ds.WindowCenter), first(ds.WindowWidth)
    except (TypeError, ValueError, IndexError):
        return None
    return (c, w) if w > 0 else None


def apply_window(values: np.ndarray, center: float, width: float) -> np.ndarray:
    """Linear VOI window (PS3.3 C.11.2.1.2.1) of modality values -> float in 0..255."""
    lo = center - 0.5 - (width - 1) / 2
    hi = center - 0.5 + (width - 1) / 2
    out = (values - (center - 0.5)) / max(width - 1, 1e-6) + 0.5
    out = np.where(values <= lo, 0.0, np.where(values > hi, 1.0, out))
    return np.clip(out, 0.0, 1.0) * 255.0


def read_dicom(
    path: str | Path, salt: str, window: tuple[float, float] | None = None
) -> DicomImage | str:
    """Read `path`: display pixels (uint8) and de-identified tags, or the reason it cannot be used.

    Args:
        path: a DICOM file (with or without the 128-byte preamble).
        salt: de-identification secret (see `deidentify`).
        window: (center, width) in modality units (e.g. HU); overrides the file's window.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns on each odd element of a bad file
        return _read(Path(path), salt, window)


def _read(path: Path, salt: str, window: tuple[float, float] | None) -> DicomImage | str:
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        ds = pydicom.dcmread(path, force=path.suffix.lower() in (".dcm", ".dicom"))
    except (InvalidDicomError, OSError, EOFError, ValueError, KeyError) as e:
        return f"not a readable DICOM file ({type(e).__name__}: {str(e)[:80]})"
    except Exception as e:  # pydicom raises many kinds on garbage; one bad file never stops a scan
        return f"not a readable DICOM file ({type(e).__name__})"
    actions = deidentify(ds, salt)
    if "PixelData" not in ds:
        return "DICOM file without pixel data"
    frames = int(getattr(ds, "NumberOfFrames", 1) or 1)
    if frames > 1:
        return f"multi-frame DICOM ({frames} frames); export single frames"
    try:
        arr = ds.pixel_array
    except Exception as e:  # compressed syntaxes without a decoder, truncated pixel data, ...
        return f"cannot decode DICOM pixels ({type(e).__name__}: {str(e)[:80]})"
    photometric = str(getattr(ds, "PhotometricInterpretation", "MONOCHROME2")).upper()
    tags = {k: str(ds.data_element(k).value) for k in KEPT if k in ds}
    if arr.ndim == 3 and arr.shape[2] == 3:  # RGB (photographs, secondary captures)
        if photometric.startswith("YBR"):
            try:
                from pydicom.pixels import convert_color_space  # pydicom >= 3
            except ImportError:
                from pydicom.pixel_data_handlers.util import convert_color_space

            arr = convert_color_space(arr, photometric, "RGB")
        return DicomImage(_to_uint8_rgb(arr), None, "none", actions, tags)
    if arr.ndim != 2:
        return f"unsupported DICOM pixel layout {tuple(arr.shape)}"
    values = _modality_values(arr, ds)
    source: Literal["option", "file", "min-max"]
    if window is not None:
        source, win = "option", window
    elif (win := _window_of(ds)) is not None:
        source = "file"
    else:
        source = "min-max"
    if win is not None:
        gray = apply_window(values, *win)
    else:
        lo, hi = float(values.min()), float(values.max())
        gray = (values - lo) / (hi - lo) * 255.0 if hi > lo else np.zeros_like(values)
    if photometric == "MONOCHROME1":  # high values display dark
        gray = 255.0 - gray
    pixels = np.clip(np.rint(gray), 0, 255).astype(np.uint8)
    return DicomImage(pixels, win, source, actions, tags)


def _modality_values(arr: np.ndarray, ds: Any) -> np.ndarray:
    """Stored values -> modality units (float64): pydicom's modality LUT, i.e. a Modality LUT
    Sequence when present, else value * RescaleSlope + RescaleIntercept."""
    try:
        from pydicom.pixels import apply_modality_lut  # pydicom >= 3
    except ImportError:
        from pydicom.pixel_data_handlers.util import apply_modality_lut
    return np.asarray(apply_modality_lut(arr, ds), dtype=np.float64)


def _to_uint8_rgb(arr: np.ndarray) -> np.ndarray:
    if arr.dtype == np.uint8:
        return arr
    a = arr.astype(np.float64)
    lo, hi = float(a.min()), float(a.max())
    return (np.zeros_like(a) if hi <= lo else (a - lo) / (hi - lo) * 255).astype(np.uint8)


def parse_window(text: str | None) -> tuple[float, float] | None:
    """'40,400' -> (40.0, 400.0): VOI center and width in modality units (e.g. HU)."""
    if text is None:
        return None
    parts = text.split(",")
    try:
        center, width = (float(p) for p in parts)
    except ValueError:
        raise GenforgeError(
            f"--window takes center,width in modality units (e.g. 40,400 for a CT brain "
            f"window), got {text!r}"
        ) from None
    if width <= 0:
        raise GenforgeError(f"--window width must be > 0, got {width:g}")
    return center, width
