"""The downloader against a local HTTP server, and safe extraction of hostile
or truncated archives the tests build themselves."""

from __future__ import annotations

import hashlib
import http.server
import io
import os
import tarfile
import threading
import zipfile
from functools import partial
from pathlib import Path

import pytest

from datasets import DatasetError
from datasets.fetch import download_file, ensure, safe_extract, verify

GOOD = b"the cat sat on the mat\n" * 2000


class Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:
        if self.path == "/truncated":  # promises the whole file, sends half, hangs up
            self.send_response(200)
            self.send_header("Content-Length", str(len(GOOD)))
            self.end_headers()
            self.wfile.write(GOOD[: len(GOOD) // 2])
            self.close_connection = True
            return
        super().do_GET()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """(url prefix, folder it serves) on 127.0.0.1, in a thread."""
    root = tmp_path_factory.mktemp("www")
    (root / "good.txt").write_bytes(GOOD)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", root
    httpd.shutdown()
    httpd.server_close()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_good_download_is_verified_and_renamed_into_place(server, tmp_path):
    url, _ = server
    path, digest = ensure(tmp_path, "ptb/good.txt", f"{url}/good.txt", sha(GOOD))
    assert path == tmp_path / "ptb/good.txt" and path.read_bytes() == GOOD and digest == sha(GOOD)
    assert sorted(p.name for p in path.parent.iterdir()) == ["good.txt"]  # no .part left


def test_wrong_checksum_names_file_and_both_hashes_and_keeps_good_copy(server, tmp_path):
    url, _ = server
    dest = tmp_path / "good.txt"
    dest.write_bytes(b"the cached good copy")
    wrong = "0" * 64
    with pytest.raises(DatasetError) as e:
        download_file(f"{url}/good.txt", dest, wrong)
    assert str(dest) in str(e.value) and wrong in str(e.value) and sha(GOOD) in str(e.value)
    assert dest.read_bytes() == b"the cached good copy"
    assert [p.name for p in tmp_path.iterdir()] == ["good.txt"]


def test_truncated_download_keeps_nothing(server, tmp_path):
    url, _ = server
    with pytest.raises(DatasetError, match="truncated|IncompleteRead"):
        ensure(tmp_path, "x/good.txt", f"{url}/truncated", sha(GOOD))
    assert not (tmp_path / "x/good.txt").exists()
    assert list((tmp_path / "x").iterdir()) == []


def test_missing_file_without_network_says_what_where_and_url(tmp_path):
    url = "http://127.0.0.1:9/ptb.train.txt"  # discard port: nothing listens
    with pytest.raises(DatasetError) as e:
        ensure(tmp_path, "ptb/ptb.train.txt", url, None, download=False)
    assert str(tmp_path / "ptb/ptb.train.txt") in str(e.value) and url in str(e.value)
    with pytest.raises(DatasetError, match="downloading http://127.0.0.1:9/ptb.train.txt failed"):
        ensure(tmp_path, "ptb/ptb.train.txt", url, None)


def test_unpublished_checksum_is_recorded_then_enforced(server, tmp_path):
    url, www = server
    (www / "large.zip").write_bytes(b"first version")
    path, digest = ensure(tmp_path, "aclw/large.zip", f"{url}/large.zip")
    assert (tmp_path / "aclw/large.zip.sha256").read_text().split()[0] == digest
    path.write_bytes(b"tampered")
    with pytest.raises(DatasetError, match="checksum mismatch"):
        verify(path, None)
    path.unlink()
    (www / "large.zip").write_bytes(b"a different upstream file")
    with pytest.raises(DatasetError, match=digest):
        ensure(tmp_path, "aclw/large.zip", f"{url}/large.zip")
    assert not path.exists()


# --- archives ---------------------------------------------------------------


def make_tar(path: Path, members: dict[str, bytes], mode: str = "w:bz2", link: str | None = None) -> Path:
    with tarfile.open(path, mode) as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        if link:
            info = tarfile.TarInfo("data/escape")
            info.type, info.linkname = tarfile.SYMTYPE, link
            tf.addfile(info)
    return path


def make_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(zipfile.ZipInfo(name), data)  # ZipInfo keeps hostile names verbatim
    return path


def test_good_archives_extract_fully(tmp_path):
    files = {"en-cs/1m-mono/train.in": b"a b\n", "en-cs/1m-mono/test.in": b"c\n"}
    for archive in (make_tar(tmp_path / "a.tar.bz2", files), make_zip(tmp_path / "a.zip", files)):
        dest = tmp_path / archive.name.replace(".", "_")
        safe_extract(archive, dest)
        assert (dest / "en-cs/1m-mono/train.in").read_bytes() == b"a b\n"
        assert sorted(p.name for p in dest.iterdir()) == ["en-cs"]  # temp folder gone


@pytest.mark.parametrize("kind", ["tar", "zip"])
@pytest.mark.parametrize("hostile", ["../evil.txt", "data/../../evil.txt", "ABS"])
def test_hostile_archive_is_refused_and_nothing_extracted(tmp_path, kind, hostile):
    outside = tmp_path / "evil.txt"
    name = str(outside) if hostile == "ABS" else hostile
    members = {"data/ok.txt": b"fine\n", name: b"pwned\n"}
    archive = (make_tar(tmp_path / "h.tar.bz2", members) if kind == "tar"
               else make_zip(tmp_path / "h.zip", members))
    dest = tmp_path / "cache" / "inner"
    with pytest.raises(DatasetError, match="refusing .*(has an absolute path|has '..' in its path)"):
        safe_extract(archive, dest)
    assert not outside.exists() and not (tmp_path / "cache" / "evil.txt").exists()
    assert not dest.exists() or list(dest.iterdir()) == []


def test_links_are_refused(tmp_path):
    archive = make_tar(tmp_path / "l.tar.gz", {"data/ok.txt": b"x"}, "w:gz", link="/etc/passwd")
    with pytest.raises(DatasetError, match="is a link"):
        safe_extract(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("suffix", ["tar.gz", "zip"])
def test_truncated_archive_is_refused(tmp_path, suffix):
    members = {f"data/{i}.txt": os.urandom(20_000) for i in range(5)}
    full = (make_tar(tmp_path / f"t.{suffix}", members, "w:gz") if suffix == "tar.gz"
            else make_zip(tmp_path / f"t.{suffix}", members))
    cut = tmp_path / f"cut.{suffix}"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size * 2 // 3])
    with pytest.raises(DatasetError, match="truncated or corrupt"):
        safe_extract(cut, tmp_path / "out")
    assert not (tmp_path / "out").exists()
