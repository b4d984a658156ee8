"""Find, download, verify and safely extract source files.

- A file already in the data dir is used as is, after its sha256 is checked.
- A download goes to `<name>.part-<pid>` beside its target with a tqdm bar,
  is hashed while written, and is renamed into place only if complete and
  matching, so a bad download never replaces (or leaves) anything.
- Files without a published checksum (ACLW's large.zip, Botha's tarball) are
  trusted on first use: their sha256 is recorded in `<file>.sha256` and any
  later file that differs is refused.
- Archives are checked member by member before anything is extracted (no
  absolute paths, no `..`, no links or devices), extracted into a temp folder
  (tarfile's `data` filter as a second guard) and moved into place only when
  the whole archive extracted cleanly.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import tarfile
import tempfile
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath

from tqdm import tqdm

from .build import writable
from .paths import DatasetError

BLOCK = 1 << 20


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(BLOCK):
            h.update(block)
    return h.hexdigest()


def verify(path: Path, expected: str | None) -> str:
    """sha256 of `path`, checked against `expected` or, if None, against the
    checksum recorded on first use (recording it if there is none yet)."""
    got = sha256_file(path)
    sidecar = path.with_name(path.name + ".sha256")
    if expected is None and sidecar.exists():
        expected = sidecar.read_text().split()[0]
    if expected is None:
        if writable(sidecar.parent):  # a read-only data dir records nothing; the checksum is still reported
            sidecar.write_text(f"{got}  {path.name}\n")
    elif got != expected:
        raise DatasetError(f"checksum mismatch for {path}: expected sha256 {expected}, got {got}")
    return got


def ensure(root: Path, rel: str, url: str, sha256: str | None = None, download: bool = True) -> tuple[Path, str]:
    """(path, sha256) of `root/rel`, downloading it from `url` if missing."""
    path = root / rel
    if path.exists():
        return path, verify(path, sha256)
    if not download:
        raise DatasetError(f"missing {rel}: looked for {path}; download it from {url} (or allow downloads)")
    if not writable(path.parent):
        raise DatasetError(f"missing {rel}: looked for {path}; cannot download {url} into the read-only "
                           f"{root} (choose a writable --data-dir)")
    try:
        download_file(url, path, sha256)
    except DatasetError:
        raise
    except OSError as e:
        raise DatasetError(f"missing {rel}: looked for {path}, and downloading {url} failed: {e}") from None
    return path, verify(path, sha256)


def download_file(url: str, dest: Path, sha256: str | None = None) -> None:
    """Download `url` to `dest` atomically; checks length and sha256 (or the recorded one)."""
    sidecar = dest.with_name(dest.name + ".sha256")
    if sha256 is None and sidecar.exists():
        sha256 = sidecar.read_text().split()[0]
    part = dest.with_name(f"{dest.name}.part-{os.getpid()}")
    h, got = hashlib.sha256(), 0
    try:
        with urllib.request.urlopen(url, timeout=60) as resp:
            total = int(resp.headers.get("Content-Length") or 0) or None
            dest.parent.mkdir(parents=True, exist_ok=True)  # only once the server answered
            with open(part, "wb") as out, tqdm(total=total, unit="B", unit_scale=True,
                                               desc=dest.name, leave=False) as bar:
                while block := resp.read(BLOCK):
                    out.write(block)
                    h.update(block)
                    got += len(block)
                    bar.update(len(block))
        if total is not None and got != total:
            raise DatasetError(f"download of {url} truncated: got {got} of {total} bytes; nothing was kept")
        digest = h.hexdigest()
        if sha256 is not None and digest != sha256:
            raise DatasetError(
                f"checksum mismatch for {url} -> {dest}: expected sha256 {sha256}, got {digest}; "
                "the download was discarded" + (" and the existing file left untouched" if dest.exists() else ""))
        os.replace(part, dest)
    except http.client.HTTPException as e:  # e.g. IncompleteRead: the server closed early
        raise DatasetError(f"download of {url} failed: {e!r}; nothing was kept") from None
    finally:
        part.unlink(missing_ok=True)


def _bad_member(name: str, is_link: bool, is_special: bool) -> str | None:
    p = PurePosixPath(name.replace("\\", "/"))
    if p.is_absolute() or (p.parts and p.parts[0].endswith(":")):
        return "has an absolute path"
    if ".." in p.parts:
        return "has '..' in its path"
    if is_link:
        return "is a link"
    if is_special:
        return "is a device or fifo"
    return None


def _check_members(archive: Path) -> None:
    """Refuse a truncated, corrupt or hostile archive before extracting anything."""
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as z:
                for info in z.infolist():
                    mode = info.external_attr >> 16
                    why = _bad_member(info.filename, (mode & 0o170000) == 0o120000, False)
                    if why:
                        raise DatasetError(f"refusing {archive}: member {info.filename!r} {why}")
                bad = z.testzip()  # reads every member: catches truncation and CRC errors
                if bad is not None:
                    raise DatasetError(f"refusing {archive}: member {bad!r} is corrupt (CRC mismatch)")
        else:
            with tarfile.open(archive) as tf:
                for m in tf:
                    why = _bad_member(m.name, m.issym() or m.islnk(), m.isdev() or m.isfifo())
                    if why:
                        raise DatasetError(f"refusing {archive}: member {m.name!r} {why}")
                    if m.isfile():
                        f = tf.extractfile(m)
                        while f.read(BLOCK):  # decompress to the end: catches truncation
                            pass
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as e:
        if isinstance(e, DatasetError):
            raise
        raise DatasetError(f"refusing {archive}: truncated or corrupt archive ({e})") from None


def safe_extract(archive: Path, dest: Path) -> None:
    """Extract `archive` under `dest`; all or nothing, never outside `dest`.

    Entries already present in `dest` are kept (the archive's copy is dropped).
    """
    _check_members(archive)
    dest.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".extract-", dir=dest))
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as z:
                z.extractall(tmp)
        else:
            with tarfile.open(archive) as tf:
                tf.extractall(tmp, filter="data")
        for entry in tmp.iterdir():
            if not (dest / entry.name).exists():
                os.replace(entry, dest / entry.name)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError) as e:
        raise DatasetError(f"refusing {archive}: extraction failed ({e}); nothing was extracted") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
