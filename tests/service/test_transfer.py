"""Firmware download and log upload against real HTTP(S) and FTP(S) servers on loopback (OCPP 1.6 §5.9 /
§5.19, 2.0.1 L01 / N01): full and resumed downloads, failure reasons, TLS trust, no credential in a log."""

from __future__ import annotations

import asyncio
import base64
import errno
import hashlib
import logging
import os
import re
import socket
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from pyftpdlib.authorizers import DummyAuthorizer  # type: ignore[import-untyped]
from pyftpdlib.filesystems import AbstractedFS  # type: ignore[import-untyped]
from pyftpdlib.handlers import FTPHandler, TLS_FTPHandler  # type: ignore[import-untyped]
from pyftpdlib.ioloop import IOLoop  # type: ignore[import-untyped]
from pyftpdlib.servers import FTPServer  # type: ignore[import-untyped]

from chargepoint.service.transfer import Reason, TransferError, download, redact_url, upload, with_retries
from tests.service.pki import Pki, make_pki

USER = "fwuser"
PASSWORD = "Pa55-w0rd-never-logged"
DATA = hashlib.sha256(b"seed").digest() * 9375  # 300 000 bytes, several 64 KiB chunks
CUT_AT = 100_000
KINDS = ["http", "https", "ftp", "ftps"]


# ---------------------------------------------------------------- servers


@dataclass
class Site:
    """What the HTTP server serves and what it saw."""

    files: dict[str, bytes] = field(default_factory=dict)
    cuts: dict[str, int] = field(default_factory=dict)  # path -> bytes sent before the connection drops, once
    redirects: dict[str, str] = field(default_factory=dict)
    uploads: dict[str, bytes] = field(default_factory=dict)
    posted_names: dict[str, str] = field(default_factory=dict)
    ranges: list[str] = field(default_factory=list)
    auth: str | None = None  # the Authorization header required, if any


def _etag(data: bytes) -> str:
    return '"' + hashlib.sha256(data).hexdigest()[:16] + '"'


def _multipart_file(content_type: str, body: bytes) -> tuple[str, bytes]:
    match = re.search(r"boundary=(\S+)", content_type)
    assert match is not None
    for part in body.split(b"--" + match.group(1).encode()):
        head, _, content = part.partition(b"\r\n\r\n")
        name = re.search(rb'name="([^"]*)"; filename="([^"]*)"', head)
        if name is not None and name.group(1) == b"file":
            assert content.endswith(b"\r\n")
            return name.group(2).decode(), content[:-2]
    raise AssertionError("no part named file")


def make_handler(site: Site) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _refused(self) -> bool:
            if site.auth is not None and self.headers.get("Authorization") != site.auth:
                self.send_response(401)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return True
            return False

        def do_GET(self) -> None:
            if self._refused():
                return
            if self.path in site.redirects:
                self.send_response(302)
                self.send_header("Location", site.redirects[self.path])
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            data = site.files.get(self.path)
            if data is None:
                self.send_error(404)
                return
            start, wanted = 0, self.headers.get("Range")
            if wanted is not None:
                site.ranges.append(wanted)
            # RFC 9110 §13.1.5: a Range is honoured only while If-Range still names this version.
            if wanted is not None and self.headers.get("If-Range", _etag(data)) == _etag(data):
                match = re.fullmatch(r"bytes=(\d+)-", wanted)
                assert match is not None
                start = int(match.group(1))
                if start >= len(data):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            else:
                self.send_response(200)
            body = data[start:]
            self.send_header("Content-Length", str(len(body)))
            self.send_header("ETag", _etag(data))
            self.end_headers()
            cut = site.cuts.pop(self.path, None)
            if cut is None:
                self.wfile.write(body)
                return
            self.wfile.write(body[:cut])  # then drop the connection with the rest announced but unsent
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)

        def _body(self) -> bytes:
            return self.rfile.read(int(self.headers["Content-Length"]))

        def do_PUT(self) -> None:
            if self._refused():
                return
            site.uploads[self.path] = self._body()
            self.send_response(201)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_POST(self) -> None:
            if self._refused():
                return
            name, content = _multipart_file(self.headers["Content-Type"], self._body())
            site.uploads[self.path], site.posted_names[self.path] = content, name
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

    return Handler


class CutFile:
    """A served file whose read fails after ``limit`` bytes: pyftpdlib then aborts the transfer (426)."""

    def __init__(self, file: Any, limit: int) -> None:
        self._file, self._limit, self._sent = file, limit, 0

    def read(self, size: int) -> bytes:
        if self._sent >= self._limit:
            raise OSError(errno.EIO, "cut by the test")
        data: bytes = self._file.read(min(size, self._limit - self._sent))
        self._sent += len(data)
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self._file, name)


@dataclass
class Served:
    """One running server of any kind, seen the same way by the tests."""

    kind: str
    base: str  # scheme://host:port/ with no credentials
    root: Path
    site: Site | None = None
    ftp_cuts: dict[str, int] = field(default_factory=dict)
    ftp_rests: list[str] = field(default_factory=list)
    ftp_refuse_rest: bool = False

    def url(self, name: str, *, credentials: bool = False) -> str:
        if credentials:
            return self.base.replace("://", f"://{USER}:{PASSWORD}@", 1) + name
        return self.base + name

    def put(self, name: str, data: bytes) -> None:
        if self.site is not None:
            self.site.files["/" + name] = data
        else:
            (self.root / name).write_bytes(data)

    def cut(self, name: str, after: int) -> None:
        if self.site is not None:
            self.site.cuts["/" + name] = after
        else:
            self.ftp_cuts[name] = after

    def resume_points(self) -> list[int]:
        if self.site is not None:
            return [int(r.removeprefix("bytes=").rstrip("-")) for r in self.site.ranges]
        return [int(r) for r in self.ftp_rests]

    def uploaded(self, name: str) -> bytes:
        if self.site is not None:
            return self.site.uploads["/" + name]
        return (self.root / name).read_bytes()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def other_pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("other-pki"))


@contextmanager
def _http_server(root: Path, pki: Pki | None) -> Iterator[Served]:
    site = Site()
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(site))
    server.daemon_threads = True
    if pki is not None:
        server.socket = pki.server_context().wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    scheme = "https" if pki else "http"
    try:
        yield Served(scheme, f"{scheme}://127.0.0.1:{server.server_address[1]}/", root, site=site)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@contextmanager
def _ftp_server(root: Path, pki: Pki | None) -> Iterator[Served]:
    root.mkdir(exist_ok=True)
    served = Served("ftps" if pki else "ftp", "", root)
    authorizer = DummyAuthorizer()
    authorizer.add_user(USER, PASSWORD, str(root), perm="elradfmwMT")
    authorizer.add_anonymous(str(root))

    class CuttingFS(AbstractedFS):  # type: ignore[misc]
        def open(self, filename: str, mode: str) -> Any:
            file = super().open(filename, mode)
            limit = served.ftp_cuts.pop(os.path.basename(filename), None) if "r" in mode else None
            return file if limit is None else CutFile(file, limit)

    base = TLS_FTPHandler if pki is not None else FTPHandler

    class Handler(base):  # type: ignore[misc, valid-type]
        abstracted_fs = CuttingFS
        use_sendfile = False  # reads go through CuttingFS
        tls_control_required = True  # an FTPS client that skips AUTH TLS / PROT P is refused
        tls_data_required = True
        auth_failed_timeout = 0.01  # pyftpdlib delays a wrong password by 3 s

        def ftp_REST(self, line: str) -> Any:
            served.ftp_rests.append(line)
            if served.ftp_refuse_rest:
                self.respond("502 Command not implemented.")
                return None
            return super().ftp_REST(line)

    Handler.authorizer = authorizer
    if pki is not None:
        Handler.certfile, Handler.keyfile = str(pki.server_cert), str(pki.server_key)
        Handler.ssl_context = None  # built from this test's certificate, not a previous test's
    server = FTPServer(("127.0.0.1", 0), Handler, ioloop=IOLoop())
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            server.serve_forever(timeout=0.02, blocking=False)
        server.close_all()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    served.base = f"{served.kind}://127.0.0.1:{server.address[1]}/"
    try:
        yield served
    finally:
        stop.set()
        thread.join(5)


@pytest.fixture(params=KINDS)
def served(request: pytest.FixtureRequest, tmp_path: Path, pki: Pki) -> Iterator[Served]:
    with serve(request.param, tmp_path / "served", pki) as running:
        yield running


def serve(kind: str, root: Path, pki: Pki) -> AbstractContextManager[Served]:
    tls = pki if kind.endswith("s") else None
    return _http_server(root, tls) if kind.startswith("http") else _ftp_server(root, tls)


def bounded(coro: Awaitable[Any]) -> Awaitable[Any]:
    async def run() -> Any:
        async with asyncio.timeout(15):
            return await coro
    return run()


async def failing(coro: Awaitable[Any]) -> TransferError:
    with pytest.raises(TransferError) as caught:
        await bounded(coro)
    return caught.value


# ---------------------------------------------------------------- download


async def test_full_download(served: Served, tmp_path: Path, pki: Pki) -> None:
    served.put("fw.bin", DATA)
    seen: list[tuple[int, int | None]] = []
    dest = tmp_path / "out" / "fw.bin"
    got = await bounded(download(served.url("fw.bin", credentials=True), dest, ca_file=pki.ca_file,
                                 progress=lambda done, total: seen.append((done, total))))
    assert got == dest and dest.read_bytes() == DATA
    assert not (tmp_path / "out" / "fw.bin.part").exists()
    assert seen[-1] == (len(DATA), len(DATA)) and len(seen) > 1


async def test_resume_after_the_server_cuts_mid_file(served: Served, tmp_path: Path, pki: Pki) -> None:
    # OCPP 1.6 §5.19 / 2.0.1 L01: a broken download continues instead of starting over (HTTP Range, FTP REST).
    served.put("fw.bin", DATA)
    served.cut("fw.bin", CUT_AT)
    dest, part = tmp_path / "fw.bin", tmp_path / "fw.bin.part"
    url = served.url("fw.bin", credentials=True)
    error = await failing(download(url, dest, ca_file=pki.ca_file))
    assert error.reason == Reason.INTERRUPTED and error.retryable
    assert not dest.exists()
    kept = part.stat().st_size
    assert 0 < kept <= CUT_AT and part.read_bytes() == DATA[:kept]

    await bounded(download(url, dest, ca_file=pki.ca_file))
    assert dest.read_bytes() == DATA
    assert served.resume_points() == [kept]
    assert not part.exists()


async def test_http_resume_restarts_when_the_file_changed(tmp_path: Path, pki: Pki) -> None:
    # RFC 9110 If-Range: a new image at the same URL must not be spliced onto the old partial file.
    with _http_server(tmp_path / "srv", None) as served:
        served.put("fw.bin", DATA)
        served.cut("fw.bin", CUT_AT)
        dest = tmp_path / "fw.bin"
        await failing(download(served.url("fw.bin"), dest))
        new = bytes(reversed(DATA))
        served.put("fw.bin", new)
        await bounded(download(served.url("fw.bin"), dest))
        assert dest.read_bytes() == new


async def test_ftp_server_without_rest_starts_over(tmp_path: Path, pki: Pki) -> None:
    with serve("ftp", tmp_path / "srv", pki) as served:
        served.put("fw.bin", DATA)
        served.ftp_refuse_rest = True
        (tmp_path / "fw.bin.part").write_bytes(b"stale bytes from an older attempt")
        await bounded(download(served.url("fw.bin"), tmp_path / "fw.bin"))
        assert (tmp_path / "fw.bin").read_bytes() == DATA
        assert served.ftp_rests == ["33"]


async def test_http_complete_partial_is_only_renamed(tmp_path: Path) -> None:
    with _http_server(tmp_path / "srv", None) as served:
        served.put("fw.bin", DATA)
        (tmp_path / "fw.bin.part").write_bytes(DATA)
        await bounded(download(served.url("fw.bin"), tmp_path / "fw.bin"))
        assert (tmp_path / "fw.bin").read_bytes() == DATA
        assert served.resume_points() == [len(DATA)]


async def test_http_redirect_is_followed(tmp_path: Path) -> None:
    with _http_server(tmp_path / "srv", None) as served:
        served.put("fw.bin", DATA)
        assert served.site is not None
        served.site.redirects["/latest"] = "/fw.bin"
        await bounded(download(served.url("latest"), tmp_path / "fw.bin"))
        assert (tmp_path / "fw.bin").read_bytes() == DATA


async def test_missing_file_is_not_found(served: Served, tmp_path: Path, pki: Pki) -> None:
    error = await failing(download(served.url("nothing.bin", credentials=True), tmp_path / "x",
                                   ca_file=pki.ca_file))
    assert error.reason == Reason.NOT_FOUND
    assert not (tmp_path / "x").exists() and not (tmp_path / "x.part").exists()


@pytest.mark.parametrize("scheme", ["http", "https", "ftp", "ftps"])
async def test_refused_connection_is_unreachable(scheme: str, tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    error = await failing(download(f"{scheme}://127.0.0.1:{port}/fw.bin", tmp_path / "fw.bin"))
    assert error.reason == Reason.UNREACHABLE and error.retryable
    source = tmp_path / "logs.tar.gz"
    source.write_bytes(DATA)
    error = await failing(upload(f"{scheme}://127.0.0.1:{port}/up/", source))
    assert error.reason == Reason.UNREACHABLE


async def test_no_space_is_refused_before_any_byte(served: Served, tmp_path: Path, pki: Pki) -> None:
    served.put("fw.bin", DATA)
    folder = tmp_path / "fw"
    folder.mkdir()
    error = await failing(download(served.url("fw.bin"), folder / "fw.bin", ca_file=pki.ca_file,
                                   min_free_bytes=1 << 62))
    assert error.reason == Reason.NO_SPACE
    assert list(folder.iterdir()) == []


async def test_wrong_credentials_are_permission_denied(served: Served, tmp_path: Path, pki: Pki) -> None:
    if served.site is not None:
        served.site.auth = "Basic c29tZW9uZTplbHNl"
    url = served.url("fw.bin", credentials=True).replace(PASSWORD, "wrong")
    served.put("fw.bin", DATA)
    error = await failing(download(url, tmp_path / "fw.bin", ca_file=pki.ca_file))
    assert error.reason == Reason.PERMISSION_DENIED


@pytest.mark.parametrize("kind", ["https", "ftps"])
async def test_untrusted_certificate_is_refused(kind: str, tmp_path: Path, pki: Pki, other_pki: Pki) -> None:
    # OCPP security: the server certificate must chain to the configured CA (or the system store).
    with serve(kind, tmp_path / "srv", pki) as served:
        served.put("fw.bin", DATA)
        for ca_file in (None, other_pki.ca_file):
            error = await failing(download(served.url("fw.bin"), tmp_path / "fw.bin", ca_file=ca_file))
            assert error.reason == Reason.TLS
            assert not (tmp_path / "fw.bin.part").exists()
        source = tmp_path / "logs.tar.gz"
        source.write_bytes(DATA)
        error = await failing(upload(served.url("up.bin"), source, ca_file=other_pki.ca_file))
        assert error.reason == Reason.TLS


@pytest.mark.parametrize("url", ["gopher://h/x", "http://", "ftp://127.0.0.1/", "http://h/a b",
                                 "http://h:99999/x"])
async def test_bad_urls(url: str, tmp_path: Path) -> None:
    error = await failing(download(url, tmp_path / "x"))
    assert error.reason == Reason.BAD_URL and not error.retryable


async def test_credentials_never_logged(served: Served, tmp_path: Path, pki: Pki,
                                        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="chargepoint")
    if served.site is not None:
        served.site.auth = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    served.put("fw.bin", DATA)
    served.cut("fw.bin", CUT_AT)
    url = served.url("fw.bin", credentials=True)
    gone = served.url("gone", credentials=True)
    errors = [await failing(download(url, tmp_path / "fw.bin", ca_file=pki.ca_file)),
              await failing(download(gone, tmp_path / "g", ca_file=pki.ca_file))]
    await bounded(download(url, tmp_path / "fw.bin", ca_file=pki.ca_file))
    await bounded(upload(served.url("up.bin", credentials=True), tmp_path / "fw.bin", ca_file=pki.ca_file))
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("chargepoint"))
    assert "***@127.0.0.1" in ours
    assert PASSWORD not in ours and USER not in ours
    assert all(PASSWORD not in str(e) and PASSWORD not in repr(e) for e in errors)


def test_redact_url() -> None:
    assert redact_url("ftp://u:p%40ss@h:21/a@b") == "ftp://***@h:21/a@b"
    assert redact_url("https://user:p@ss@host/x?y=@") == "https://***@host/x?y=@"
    assert redact_url("http://host/path") == "http://host/path"


# ---------------------------------------------------------------- upload


async def test_upload_arrives_byte_identical(served: Served, tmp_path: Path, pki: Pki) -> None:
    source = tmp_path / "diagnostics.tar.gz"
    source.write_bytes(DATA)
    await bounded(upload(served.url("logs.tar.gz", credentials=True), source, ca_file=pki.ca_file))
    assert served.uploaded("logs.tar.gz") == DATA


async def test_http_post_is_multipart_with_field_file(tmp_path: Path, pki: Pki) -> None:
    source = tmp_path / "diagnostics.tar.gz"
    source.write_bytes(DATA + b"\r\n--tail")
    with serve("https", tmp_path / "srv", pki) as served:
        await bounded(upload(served.url("post"), source, method="POST", ca_file=pki.ca_file))
        assert served.site is not None
        assert served.site.uploads["/post"] == source.read_bytes()
        assert served.site.posted_names["/post"] == "diagnostics.tar.gz"


@pytest.mark.parametrize("kind", ["ftp", "ftps"])
async def test_ftp_folder_url_gets_the_file_name(kind: str, tmp_path: Path, pki: Pki) -> None:
    source = tmp_path / "diagnostics.tar.gz"
    source.write_bytes(DATA)
    with serve(kind, tmp_path / "srv", pki) as served:
        (served.root / "incoming").mkdir()
        await bounded(upload(served.url("incoming/", credentials=True), source, ca_file=pki.ca_file))
        assert (served.root / "incoming" / "diagnostics.tar.gz").read_bytes() == DATA


async def test_upload_of_missing_file_is_local_error(tmp_path: Path) -> None:
    with _http_server(tmp_path / "srv", None) as served:
        error = await failing(upload(served.url("x"), tmp_path / "absent"))
        assert error.reason == Reason.LOCAL_IO


async def test_upload_rejects_other_methods(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="PUT or POST"):
        await upload("http://127.0.0.1:1/x", tmp_path, method="PATCH")


# ---------------------------------------------------------------- retries


class FakeSleep:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


def failing_op(errors: list[Exception], result: str = "ok") -> tuple[Callable[[], Awaitable[str]], list[int]]:
    calls: list[int] = []

    async def op() -> str:
        calls.append(1)
        if errors:
            raise errors.pop(0)
        return result

    return op, calls


@pytest.mark.parametrize("retries", [0, 1, 3])
async def test_with_retries_makes_one_plus_retries_attempts(retries: int) -> None:
    # OCPP 1.6 §5.9 / §5.19: "retries" counts the attempts after the first, "retryInterval" apart.
    errors: list[Exception] = [TransferError(Reason.UNREACHABLE, f"attempt {i}") for i in range(10)]
    last = errors[retries]
    op, calls = failing_op(errors)
    sleep = FakeSleep()
    with pytest.raises(TransferError) as caught:
        await with_retries(op, retries, 30.0, sleep=sleep)
    assert caught.value is last
    assert len(calls) == retries + 1 and sleep.delays == [30.0] * retries


async def test_with_retries_returns_the_first_success() -> None:
    op, calls = failing_op([TransferError(Reason.INTERRUPTED, "a"), TransferError(Reason.NOT_FOUND, "b")])
    sleep = FakeSleep()
    assert await with_retries(op, 5, 2.0, sleep=sleep) == "ok"
    assert len(calls) == 3 and sleep.delays == [2.0, 2.0]


async def test_with_retries_stops_at_once_on_bad_url_and_foreign_errors() -> None:
    for error in (TransferError(Reason.BAD_URL, "x"), RuntimeError("bug")):
        op, calls = failing_op([error])
        sleep = FakeSleep()
        with pytest.raises(type(error)):
            await with_retries(op, 3, 1.0, sleep=sleep)
        assert len(calls) == 1 and sleep.delays == []
