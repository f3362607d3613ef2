"""Where training data came from and whether it may be used: datasheets, licences, opt-outs.

- **Datasheet.** A data source may carry a `datasheet.yaml` (in the folder, or beside a file as
  `datasheet.yaml` or `<file name>.datasheet.yaml`) with `source`, `license` (an SPDX
  expression such as `CC-BY-NC-4.0` or `MIT OR Apache-2.0`, checked against the SPDX list that
  `license-expression` ships), `consent`, `contains_personal_data` and `intended_use`.
- **Licence terms.** `licence_terms` reads an expression's restrictions: non-commercial (NC),
  no-derivatives (ND), share-alike (SA). With OR the user may pick the freer licence, so a term
  binds only when every alternative carries it; with AND any part binds.
- **Conflicts.** `conflicts(sheet, use)` lists what forbids the use a run declares
  (`--use commercial|research|personal|internal`): an NC licence in a commercial run, an ND
  licence for any model (a model trained on a work is a derivative of it), consent refused.
- **Content hash.** `content_hash(files)`: one sha256 over the sorted relative paths and the
  sha256 of each file's bytes, so a run names the exact files it learned from.
- **Opt-out list.** A project-level file, `genforge-optout.txt` in the working directory (or
  the path in `$GENFORGE_OPTOUT`): one hash per line, `sha256:<hex>` for exact files and
  `phash:<hex>` for images (a 64-bit perceptual hash; within `PHASH_MAX_BITS` bits is a match,
  so re-encoded or resized copies are caught too). Loaders skip matching files and list them
  in the data report; `genforge optout add PATH…` appends to it.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from genforge.core.errors import GenforgeError
from genforge.core.images import hamming

SHEET_NAME = "datasheet.yaml"
USES = ("commercial", "research", "personal", "internal", "unspecified")
CONSENT = ("yes", "no", "unknown", "not-needed")
OPTOUT_NAME = "genforge-optout.txt"
OPTOUT_ENV = "GENFORGE_OPTOUT"
PHASH_MAX_BITS = 8  # of 64: re-encoded, resized or lightly edited copies stay within it
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}

# Licences of the embedded sets (what their upstream projects state). Sets genforge draws
# itself (phantoms, sprites, tones, spoken digits) carry genforge's own licence.
EMBEDDED_LICENCES = {
    "digits": ("UCI ML hand-written digits, as bundled by scikit-learn", "CC-BY-4.0"),
    "photos": (
        "patches of scikit-learn's two Flickr photos (CC BY 2.0) and scikit-image's bundled "
        "photographs (public domain / CC0)",
        "CC-BY-2.0 AND CC0-1.0",
    ),
    "phantoms": ("CT-like head phantoms drawn by genforge (Shepp-Logan ellipses)", "Apache-2.0"),
    "sprites": ("character sprites drawn by genforge", "Apache-2.0"),
    "pydoc": ("Python's bundled documentation (pydoc_data.topics)", "PSF-2.0"),
    "breast_cancer": ("UCI Breast Cancer Wisconsin (Diagnostic), via scikit-learn", "CC-BY-4.0"),
    "wine": ("UCI Wine, via scikit-learn", "CC-BY-4.0"),
    "diabetes": ("Efron et al. 2004 diabetes data, via scikit-learn", "LicenseRef-not-stated"),
    "tones": ("tones synthesised by genforge", "Apache-2.0"),
    "spoken-digits": ("digits spoken by espeak-ng, synthesised by genforge", "Apache-2.0"),
    "country-names": ("Unicode CLDR country names, via babel", "Unicode-DFS-2016"),
    # video: moving clips made by genforge from the sets above (their licences carry over)
    "moving-digits": ("UCI ML hand-written digits (scikit-learn) moved by genforge", "CC-BY-4.0"),
    "moving-digits-2": ("UCI ML hand-written digits (scikit-learn) moved by genforge", "CC-BY-4.0"),
    "sprite-clips": ("character sprites drawn and animated by genforge", "Apache-2.0"),
}


# ---------------------------------------------------------------------------------------
# Datasheets and licences
# ---------------------------------------------------------------------------------------


@dataclass
class Datasheet:
    """What a source's `datasheet.yaml` declares (fields it leaves out are None)."""

    path: str  # the datasheet file, or "embedded"
    license: str  # normalised SPDX expression
    source: str | None = None
    consent: str | None = None
    contains_personal_data: bool | None = None
    intended_use: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class LicenceTerms:
    non_commercial: bool
    no_derivatives: bool
    share_alike: bool


def normalise_licence(expression: str, where: str = "") -> str:
    """The SPDX expression, normalised; an unknown id is a one-line error naming it.
    `LicenseRef-<name>` ids (SPDX's way to name a licence of your own) are accepted."""
    from license_expression import ExpressionError, get_spdx_licensing

    licensing = get_spdx_licensing()
    info = licensing.validate(str(expression))
    bad = [str(s) for s in info.invalid_symbols if not str(s).startswith("LicenseRef-")]
    if bad or (info.errors and not info.invalid_symbols):
        raise GenforgeError(
            f"{where or 'licence'}: unknown SPDX licence id {', '.join(bad) or str(expression)}; "
            "use an id from https://spdx.org/licenses/ (e.g. CC-BY-4.0, MIT) or "
            "LicenseRef-<name> for your own"
        )
    if info.normalized_expression is not None:
        return str(info.normalized_expression)
    try:  # only LicenseRef- ids were unknown
        return str(licensing.parse(str(expression), validate=False))
    except ExpressionError:
        raise GenforgeError(f"{where or 'licence'}: not an SPDX expression: {expression}") from None


def licence_terms(expression: str) -> LicenceTerms:
    """The restrictions an SPDX expression puts on its user (see the module docstring)."""
    from license_expression import AND, OR, get_spdx_licensing

    def terms(node: Any) -> tuple[bool, bool, bool]:
        if isinstance(node, OR | AND):
            parts = [terms(a) for a in node.args]
            pick = all if isinstance(node, OR) else any
            return tuple(pick(p[i] for p in parts) for i in range(3))  # type: ignore[return-value]
        key = str(getattr(node, "key", node)).upper()
        return "-NC" in key, "-ND" in key, "-SA" in key

    return LicenceTerms(*terms(get_spdx_licensing().parse(expression)))


def find_datasheet(source: str | Path) -> Path | None:
    """The datasheet of a folder or file source, if it has one."""
    p = Path(source)
    candidates = (
        [p / SHEET_NAME]
        if p.is_dir()
        else [p.with_name(f"{p.name}.datasheet.yaml"), p.with_name(SHEET_NAME)]
    )
    return next((c for c in candidates if c.is_file()), None)


def load_datasheet(path: str | Path) -> Datasheet:
    """Read and check a datasheet.yaml; a wrong field is a one-line error naming the file."""
    import yaml

    p = Path(path)
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise GenforgeError(f"{p}: not a readable YAML datasheet ({type(e).__name__})") from None
    if not isinstance(raw, dict):
        raise GenforgeError(f"{p}: a datasheet is a YAML mapping (license: ..., source: ...)")
    raw = {str(k).replace("-", "_").lower(): v for k, v in raw.items()}
    raw["license"] = raw.pop("licence", raw.get("license"))
    unknown = set(raw) - {"license", "source", "consent", "contains_personal_data", "intended_use"}
    if unknown:
        raise GenforgeError(f"{p}: unknown datasheet field(s) {', '.join(sorted(unknown))}")
    if not raw.get("license"):
        raise GenforgeError(f"{p}: the datasheet names no license (an SPDX id, e.g. CC-BY-4.0)")
    consent = raw.get("consent")
    if isinstance(consent, bool):  # YAML 1.1 reads a bare yes/no as a boolean
        consent = "yes" if consent else "no"
    if consent is not None and str(consent).lower() not in CONSENT:
        raise GenforgeError(f"{p}: consent must be one of {', '.join(CONSENT)}, got {consent!r}")
    personal = raw.get("contains_personal_data")
    if personal is not None and not isinstance(personal, bool):
        raise GenforgeError(f"{p}: contains_personal_data must be true or false")
    uses = raw.get("intended_use") or []
    return Datasheet(
        path=str(p),
        license=normalise_licence(raw["license"], str(p)),
        source=None if raw.get("source") is None else str(raw["source"]),
        consent=None if consent is None else str(consent).lower(),
        contains_personal_data=personal,
        intended_use=[str(u) for u in (uses if isinstance(uses, list) else [uses])],
    )


def datasheet_of(source: str, embedded: bool) -> Datasheet | None:
    """A source's datasheet: its file, what genforge knows of an embedded set, or None."""
    if embedded:
        known = EMBEDDED_LICENCES.get(source.split(":")[0])
        return None if known is None else Datasheet("embedded", known[1], known[0], "not-needed")
    path = find_datasheet(source)
    return None if path is None else load_datasheet(path)


def conflicts(sheet: Datasheet | None, use: str) -> list[str]:
    """Why the declared `use` of a run may not use this source (empty: nothing found)."""
    if sheet is None:
        return []
    terms = licence_terms(sheet.license)
    found = []
    if terms.non_commercial and use == "commercial":
        found.append(f"{sheet.license} forbids commercial use, and this run is marked commercial")
    if terms.no_derivatives:
        found.append(f"{sheet.license} forbids derivatives, and a trained model is one")
    if "LicenseRef-not-stated" in sheet.license and use == "commercial":
        found.append("the upstream licence is not stated; check it before commercial use")
    if sheet.consent == "no":
        found.append("the datasheet says consent was not given")
    if sheet.contains_personal_data and sheet.consent not in ("yes", "not-needed"):
        found.append("the data contains personal data without recorded consent")
    if sheet.intended_use and use not in ("unspecified", *sheet.intended_use):
        found.append(f"intended use is {', '.join(sheet.intended_use)}, not {use}")
    return found


def check_use(use: str | None) -> str:
    use = use or "unspecified"
    if use not in USES:
        raise GenforgeError(f"unknown --use '{use}'; choose one of {', '.join(USES)}")
    return use


# ---------------------------------------------------------------------------------------
# Content hashes and the opt-out list
# ---------------------------------------------------------------------------------------


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def content_digest(entries: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """{"sha256": one hash over the sorted (relative path, file sha256) pairs, "files": count}:
    names the exact files a run learned from."""
    rows = sorted(entries)
    h = hashlib.sha256()
    for rel, digest in rows:
        h.update(f"{rel}\0{digest}\n".encode())
    return {"sha256": h.hexdigest(), "files": len(rows)}


def content_hash(files: Iterable[str | Path], root: str | Path | None = None) -> dict[str, Any]:
    """`content_digest` of files read from disk (paths relative to `root`, else file names)."""
    base = Path(root) if root is not None else None
    return content_digest(
        (Path(f).relative_to(base).as_posix() if base is not None else Path(f).name,
         file_sha256(f)) for f in files
    )  # fmt: skip


def image_phash(path: str | Path) -> str | None:
    """The 64-bit perceptual hash of an image file, or None when it does not decode."""
    from PIL import Image

    from genforge.core.images import phash

    try:
        with Image.open(path) as im:
            return phash(im)
    except (OSError, ValueError, Image.DecompressionBombError):
        return None


@dataclass
class OptOut:
    """The opt-out list: exact file hashes and image perceptual hashes never to train on."""

    path: Path | None = None
    sha256: set[str] = field(default_factory=set)
    phash: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.sha256 or self.phash)

    def match(self, path: str | Path, sha256: str | None = None) -> str | None:
        """Why `path` is opted out, or None (`sha256`: its digest when already known)."""
        if not self:
            return None
        if (sha256 or file_sha256(path)) in self.sha256:
            return "opted out (exact copy of a listed work)"
        if self.phash and Path(path).suffix.lower() in IMAGE_SUFFIXES:
            h = image_phash(path)
            if h is not None:
                bits = min(hamming(h, p) for p in self.phash)
                if bits <= PHASH_MAX_BITS:
                    return f"opted out (perceptually {bits} bits from a listed work)"
        return None


def optout_path() -> Path:
    return Path(os.environ.get(OPTOUT_ENV) or OPTOUT_NAME)


def load_optout(path: str | Path | None = None) -> OptOut:
    """The opt-out list at `path` (default: `optout_path()`); a missing file is an empty list."""
    p = Path(path) if path is not None else optout_path()
    if not p.is_file():
        return OptOut(p)
    out = OptOut(p)
    for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
        entry = line.split("#", 1)[0].strip()
        if not entry:
            continue
        kind, _, value = entry.partition(":")
        value = value.strip().lower()
        try:
            int(value, 16)
        except ValueError:
            raise GenforgeError(f"{p}:{n}: expected sha256:<hex> or phash:<hex>") from None
        if kind == "sha256" and len(value) == 64:
            out.sha256.add(value)
        elif kind == "phash" and len(value) == 16:
            out.phash.append(value)
        else:
            raise GenforgeError(f"{p}:{n}: expected sha256:<64 hex> or phash:<16 hex>")
    return out


def text_digest(text: str) -> str:
    """sha256 of a document's UTF-8 text (a .txt file saved as UTF-8 hashes the same)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def check_file_not_opted_out(path: str | Path, optout: OptOut | None = None) -> str:
    """The file's sha256; a one-line error when the whole file is on the opt-out list (a
    single-file source: a CSV table, one text file)."""
    digest = file_sha256(path)
    optout = load_optout() if optout is None else optout
    why = optout.match(path, digest)
    if why:
        raise GenforgeError(f"{path} is {why} on {optout.path}; it may not be used")
    return digest


def optout_entries(paths: Iterable[str | Path]) -> list[str]:
    """The opt-out lines for files and folders (every file's sha256; images' phash too)."""
    lines = []
    for given in paths:
        p = Path(given)
        if not p.exists():
            raise GenforgeError(f"{p}: no such file or folder")
        files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
        for f in files:
            lines.append(f"sha256:{file_sha256(f)}  # {f.name}")
            h = image_phash(f) if f.suffix.lower() in IMAGE_SUFFIXES else None
            if h is not None:
                lines.append(f"phash:{h}  # {f.name}")
    return lines


# ---------------------------------------------------------------------------------------
# What a run records: its declared use, and each source's datasheet and content hash
# ---------------------------------------------------------------------------------------


def source_record(source: str, embedded: bool, content: dict[str, Any] | None) -> dict[str, Any]:
    """One source of a run for its config.yaml: where, its datasheet (None: it has none) and
    the content hash of the exact files used ({} for embedded sets: the version names them)."""
    sheet = datasheet_of(source, embedded)
    return {
        "source": source,
        "datasheet": None if sheet is None else sheet.to_dict(),
        "content": dict(content or {}),
    }


def run_provenance(use: str | None, sources: list[dict[str, Any]]) -> dict[str, Any]:
    """The `provenance` section of a run's config.yaml."""
    return {"use": check_use(use), "sources": sources}


def sheet_from_dict(d: dict[str, Any] | None) -> Datasheet | None:
    return None if d is None else Datasheet(**d)


def run_conflicts(provenance: dict[str, Any] | None) -> list[tuple[str, str]]:
    """(source, why) for every recorded source whose datasheet forbids the run's declared use;
    a source without a datasheet is listed too (its licence is unknown)."""
    if not provenance:
        return []
    use = provenance.get("use", "unspecified")
    found = []
    for s in provenance.get("sources", []):
        sheet = sheet_from_dict(s.get("datasheet"))
        if sheet is None:
            found.append((s["source"], "no datasheet: its licence and consent are unknown"))
        found += [(s["source"], why) for why in conflicts(sheet, use)]
    return found


def card_lines(provenance: dict[str, Any] | None, report: dict[str, Any]) -> list[str]:
    """The model card's "Training data" section: each source, its licence and datasheet, the
    content hash of the files used, opted-out files skipped, and conflicts with the use."""
    if not provenance:
        return ["- not recorded (run made before genforge recorded datasheets)"]
    lines = [f"- declared use: {provenance.get('use', 'unspecified')}"]
    for s in provenance.get("sources", []):
        sheet = sheet_from_dict(s.get("datasheet"))
        if sheet is None:
            what = "licence unknown (no datasheet.yaml)"
        else:
            extra = [f"source: {sheet.source}"] if sheet.source else []
            extra += [f"consent: {sheet.consent}"] if sheet.consent else []
            if sheet.contains_personal_data is not None:
                extra.append(f"personal data: {'yes' if sheet.contains_personal_data else 'no'}")
            where = "known licence of an embedded set" if sheet.path == "embedded" else sheet.path
            what = f"licence **{sheet.license}** ({where}; {'; '.join(extra) or 'no details'})"
        content = s.get("content") or {}
        hashed = (f"; files used: {content['files']}, content sha256 `{content['sha256']}`"
                  if content else "")  # fmt: skip
        lines.append(f"- `{s['source']}`: {what}{hashed}")
    opted = [x for x in report.get("skipped", []) if "opted out" in str(x)]
    if opted:
        lines.append(f"- files skipped because they are on the opt-out list: {len(opted)}")
    for source, why in run_conflicts(provenance):
        lines.append(f"- **warning** `{source}`: {why}")
    return lines


def inspect_datasheet(source: str) -> tuple[Datasheet | None, str]:
    """A source's datasheet for `genforge data inspect`, and a line saying where it came from
    or, when it has none, what to write."""
    embedded = source in EMBEDDED_LICENCES and not Path(source).exists()
    sheet = datasheet_of(source, embedded)
    if sheet is not None:
        where = "known licence of an embedded set" if embedded else sheet.path
        return sheet, f"datasheet: {where}"
    p = Path(source)
    target = p / SHEET_NAME if p.is_dir() else p.with_name(f"{p.name}.datasheet.yaml")
    return None, (
        f"no datasheet: the licence and consent of {source} are unknown; write {target} "
        "(source, license: <SPDX id>, consent, contains_personal_data, intended_use)"
    )


def add_optout(paths: Iterable[str | Path], path: str | Path | None = None) -> tuple[Path, int]:
    """Append the opt-out lines of files/folders to the list (created when missing), skipping
    lines already there; returns (list path, hashes added)."""
    from genforge.core.io import write_text

    p = Path(path) if path is not None else optout_path()
    have = p.read_text(encoding="utf-8") if p.is_file() else ""
    known = {line.split("#", 1)[0].strip() for line in have.splitlines()}
    new = [line for line in optout_entries(paths) if line.split("#", 1)[0].strip() not in known]
    if new:
        head = "" if have else "# genforge opt-out list: files never to train on\n"
        body = have if not have or have.endswith("\n") else have + "\n"
        write_text(p, head + body + "\n".join(new) + "\n")
    return p, len(new)
