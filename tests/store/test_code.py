"""The code store: real zips, honest and hostile, unpacked into a real directory."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import os
import random
import shutil
import stat
import struct
import threading
import time
import uuid
import warnings
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import EngineHarness, installed_pythons
from nimbus.errors import InvalidParameterValue, RequestEntityTooLarge, ResourceNotFound
from nimbus.models import FunctionSpec
from nimbus.store import code
from nimbus.store.code import BAD_ZIP, EMPTY_ZIP, CodePackage, CodeStore

Entry = tuple[str | zipfile.ZipInfo, bytes]


def entry(name: str, mode: int = 0o100644) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.external_attr = mode << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def link(name: str, target: str) -> Entry:
    return entry(name, 0o120777), target.encode()


def make_zip(*entries: Entry, method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(buf, "w", method) as archive:
        warnings.simplefilter("ignore")  # duplicate names are on purpose
        for name, data in entries:
            archive.writestr(name, data)
    return buf.getvalue()


def names_in(data: bytes) -> list[str]:
    """What a zip really holds (so a test can't pass on a zip that lost its trick)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return [info.orig_filename for info in archive.infolist()]


def central_headers(data: bytes) -> list[int]:
    return [i for i in range(len(data)) if data.startswith(b"PK\x01\x02", i)]


def patch_central(data: bytes, index: int, offset: int, value: int) -> bytes:
    """Overwrite a 4-byte field of the index-th central-directory header."""
    at = central_headers(data)[index] + offset
    return data[:at] + struct.pack("<I", value) + data[at + 4 :]


CRC, COMPRESSED, UNCOMPRESSED = 16, 20, 24  # offsets in a central-directory header


def assert_clean(root: Path) -> None:
    """Nothing half-written: no staging left, and no package either."""
    assert sorted(p.name for p in root.iterdir()) == []


@pytest.fixture
def root(tmp_path: Path) -> Path:
    # Deep, so that a zip-slip that got through would land inside tmp_path.
    return tmp_path / "a" / "b" / "c" / "code"


@pytest.fixture
def store(root: Path) -> CodeStore:
    return CodeStore(root)


@pytest.fixture
def umask() -> Iterator[None]:
    old = os.umask(0o077)
    yield
    os.umask(old)


def reject(store: CodeStore, data: bytes) -> InvalidParameterValue:
    with pytest.raises(InvalidParameterValue) as caught:
        store.put_zip(data)
    assert caught.value.code == "InvalidParameterValueException"
    assert caught.value.status == 400
    assert_clean(store.root)
    return caught.value


# --- the happy path ------------------------------------------------------------------------


def test_put_unpacks_content_addressed_with_aws_sha_and_keeps_the_zip(store: CodeStore) -> None:
    data = make_zip(("app.py", b"def handler(e, c):\n    return 1\n"), ("lib/util.py", b"X = 2\n"))
    package = store.put_zip(data)
    digest = hashlib.sha256(data).digest()
    assert package == CodePackage(
        sha256_b64=base64.b64encode(digest).decode(),
        size=len(data),
        directory=store.root / digest.hex(),
        unzipped_size=len(b"def handler(e, c):\n    return 1\n") + len(b"X = 2\n"),
    )
    assert (package.directory / "app.py").read_bytes().startswith(b"def handler")
    assert (package.directory / "lib" / "util.py").read_text() == "X = 2\n"
    # The engine bind-mounts a directory inside the store: one component below the root.
    assert package.directory.resolve().relative_to(store.root.resolve()) == Path(digest.hex())
    # The original zip, for GetFunction's download, by either form of the hash.
    assert store.zip_path(package.sha256_b64) == store.zip_path(digest.hex())
    assert store.zip_path(package.sha256_b64).read_bytes() == data
    with store.open_zip(package.sha256_b64) as stream:
        assert stream.read() == data
    assert sorted(p.name for p in store.root.iterdir()) == [digest.hex(), f"{digest.hex()}.zip"]


def test_modes_are_fixed_executable_kept_special_bits_dropped(
    store: CodeStore, umask: None
) -> None:
    data = make_zip(
        (entry("bootstrap", 0o100755), b"#!/bin/sh\n"),
        (entry("secret.txt", 0o100600), b"s"),
        (entry("suid", 0o104755), b"x"),
        (entry("sgid.txt", 0o102644), b"x"),
        (entry("group-x", 0o100710), b"x"),
        (entry("sticky/", 0o41777), b""),
        (entry("windows.txt", 0), b"no unix mode"),
        ("implicit/dir/file.py", b""),
    )
    directory = store.put_zip(data).directory

    def mode(rel: str) -> int:
        return stat.S_IMODE((directory / rel).lstat().st_mode)

    assert mode("bootstrap") == 0o755  # a custom runtime's entry point stays executable
    assert mode("secret.txt") == 0o644  # readable by the sandbox's unprivileged uid
    assert mode("suid") == 0o755
    assert mode("sgid.txt") == 0o644
    assert mode("group-x") == 0o755
    assert mode("sticky") == 0o755
    assert mode("windows.txt") == 0o644
    assert mode("implicit") == mode("implicit/dir") == 0o755
    assert mode("implicit/dir/file.py") == 0o644
    assert stat.S_IMODE(directory.stat().st_mode) == 0o755
    for path in [directory, *directory.rglob("*")]:
        assert path.lstat().st_uid == os.geteuid()


def test_same_zip_is_stored_once(store: CodeStore) -> None:
    data = make_zip(("app.py", b"x = 1\n"), link("alias.py", "app.py"))
    first = store.put_zip(data)
    inode = first.directory.stat().st_ino
    second = store.put_zip(data)
    assert second == first
    assert second.directory.stat().st_ino == inode  # not unpacked again
    other = store.put_zip(make_zip(("app.py", b"x = 2\n")))
    assert other.directory != first.directory


def test_losing_the_rename_race_keeps_the_existing_tree(store: CodeStore) -> None:
    data = make_zip(("app.py", b"x = 1\n"))
    first = store.put_zip(data)
    inode = first.directory.stat().st_ino
    store.zip_path(first.sha256_b64).unlink()  # defeats the shortcut: unpacks, rename fails
    assert store.put_zip(data) == first
    assert first.directory.stat().st_ino == inode
    assert store.zip_path(first.sha256_b64).read_bytes() == data
    assert not [p for p in store.root.iterdir() if p.name.startswith(".tmp-")]


def test_concurrent_puts_of_the_same_zip(store: CodeStore) -> None:
    files = [(f"pkg/m{i}.py", os.urandom(20_000)) for i in range(30)]
    data = make_zip(*files)
    barrier = threading.Barrier(8)
    results: list[CodePackage] = []
    errors: list[BaseException] = []

    def put() -> None:
        barrier.wait()
        try:
            results.append(store.put_zip(data))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=put) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(results) == 8 and len(set(results)) == 1
    directory = results[0].directory
    for name, content in files:
        assert (directory / name).read_bytes() == content
    assert sorted(p.name for p in store.root.iterdir()) == [directory.name, f"{directory.name}.zip"]


def test_directory_entries_and_unicode_names(store: CodeStore) -> None:
    data = make_zip(
        ("empty/", b""),
        ("./dotted/", b""),
        ("ünïcødé/módulo.py", "x = 'ü'\n".encode()),
        ("日本語.txt", "こんにちは".encode()),
        ("emoji_🐍.py", b""),
        ("a//b/./c.py", b"c"),
    )
    directory = store.put_zip(data).directory
    assert (directory / "empty").is_dir()
    assert (directory / "dotted").is_dir()
    assert (directory / "ünïcødé" / "módulo.py").read_text() == "x = 'ü'\n"
    assert (directory / "日本語.txt").read_text() == "こんにちは"
    assert (directory / "emoji_🐍.py").exists()
    assert (directory / "a" / "b" / "c.py").read_bytes() == b"c"


def test_only_directories_is_a_package(store: CodeStore) -> None:
    directory = store.put_zip(make_zip(("a/", b""), ("a/b/", b""), ("a/", b""))).directory
    assert (directory / "a" / "b").is_dir()


def test_stored_entries(store: CodeStore) -> None:
    data = make_zip(("app.py", b"x = 1\n"), method=zipfile.ZIP_STORED)
    assert (store.put_zip(data).directory / "app.py").read_bytes() == b"x = 1\n"


# --- symlinks --------------------------------------------------------------------------------


def test_symlinks_inside_the_package_are_kept(store: CodeStore) -> None:
    data = make_zip(
        ("lib/x.py", b"X = 1\n"),
        link("alias.py", "lib/x.py"),
        link("libdir", "lib"),
        link("lib/again.py", "../lib/./x.py"),
        link("here", "."),
        link("through", "here/lib/x.py"),
        link("dangling", "not/there"),
    )
    directory = store.put_zip(data).directory
    assert os.readlink(directory / "alias.py") == "lib/x.py"
    assert (directory / "alias.py").read_text() == "X = 1\n"
    assert (directory / "libdir").is_symlink() and (directory / "libdir" / "x.py").exists()
    assert (directory / "lib" / "again.py").read_text() == "X = 1\n"
    assert (directory / "through").read_text() == "X = 1\n"
    assert os.readlink(directory / "dangling") == "not/there"


@pytest.mark.parametrize(
    "links",
    [
        [("evil", "..")],
        [("evil", "../outside")],
        [("lib/evil", "../../x")],
        [("evil", "lib/../../x")],
        [("evil", "/etc/passwd")],
        [("evil", "")],
        [("s", "."), ("evil", "s/..")],  # lexically inside, really outside
        [("evil", "b/.."), ("b", ".")],
        [("d/s", ".."), ("evil", "d/s/..")],
    ],
)
def test_symlinks_leaving_the_package_are_refused(
    store: CodeStore, links: list[tuple[str, str]]
) -> None:
    data = make_zip(("lib/x.py", b""), *(link(name, target) for name, target in links))
    error = reject(store, data)
    assert "symlink" in error.message
    assert any(error.message.startswith(f"Invalid zip entry {name!r}:") for name, _ in links)


@pytest.mark.parametrize(
    "entries",
    [
        [link("ln", "lib"), ("ln/evil.py", b"x")],
        [link("ln", ".."), ("ln/x", b"x")],
        [link("ln", "lib"), ("ln/", b"")],
        [link("ln", "lib"), link("ln/deeper", "x")],
        [("file", b""), ("file/x", b"x")],
    ],
)
def test_nothing_is_written_through_a_link_or_a_file(
    store: CodeStore, entries: list[Entry], tmp_path: Path
) -> None:
    data = make_zip(("lib/x.py", b""), *entries)
    error = reject(store, data)
    assert "goes through" in error.message or "conflicting" in error.message
    assert not list(tmp_path.rglob("evil.py")) and not (store.root.parent / "x").exists()


def test_long_symlink_target_is_refused(store: CodeStore) -> None:
    assert "too long" in reject(store, make_zip(link("ln", "a/" * 3000))).message


def test_symlink_loops_are_refused(store: CodeStore) -> None:
    error = reject(store, make_zip(link("a", "b/x"), link("b", "a/..")))
    assert "symlink chain too long or looping" in error.message


def test_symlink_resolution_is_bounded(store: CodeStore) -> None:
    """Many long targets can't keep the server resolving (a budget for the whole package)."""
    long_target = "./" * 2000 + "x"
    data = make_zip(("x", b""), *(link(f"l{i}", long_target) for i in range(1100)))
    started = time.monotonic()
    assert "too many symlinks" in reject(store, data).message
    assert time.monotonic() - started < 10
    store.put_zip(make_zip(("x", b""), *(link(f"l{i}", long_target) for i in range(900))))


# --- names -----------------------------------------------------------------------------------


SLIP = f"/tmp/nimbus-zip-slip-{uuid.uuid4().hex}"


@pytest.mark.parametrize(
    "name",
    ["../../escaped.py", "a/../../escaped.py", "a/..", SLIP, "..\\..\\escaped.py", "C:/x", "C:x"],
)
def test_zip_slip_is_refused_naming_the_entry(store: CodeStore, name: str) -> None:
    data = make_zip(("app.py", b""), (name, b"pwned"))
    assert name in names_in(data)
    error = reject(store, data)
    assert repr(name) in error.message
    assert not Path(SLIP).exists()
    assert not list(store.root.parent.parent.parent.parent.rglob("escaped.py"))


def test_nul_byte_in_a_name_is_refused(store: CodeStore) -> None:
    data = make_zip(("app.py", b""), ("evil.pyX.txt", b"x")).replace(b"evil.pyX", b"evil.py\0")
    assert "evil.py\0.txt" in names_in(data)
    assert "NUL" in reject(store, data).message


@pytest.mark.parametrize(
    "entries",
    [
        [("a.py", b"1"), ("a.py", b"2")],
        [("a/b.py", b""), ("a", b"")],
        [("a/", b""), ("a", b"")],
        [("a", b""), ("a/", b"")],
        [("x.py", b""), link("x.py", "y")],
        [("./a.py", b""), ("a.py", b"")],
    ],
)
def test_duplicate_or_conflicting_names_are_refused(store: CodeStore, entries: list[Entry]) -> None:
    reject(store, make_zip(*entries))


def test_overlong_names_are_refused(store: CodeStore) -> None:
    reject(store, make_zip(("x" * 256, b"")))
    reject(store, make_zip(("/".join(["d" * 200] * 21), b"")))


# --- broken and hostile archives -------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"hello, not a zip",
        os.urandom(4096),
        make_zip(("app.py", b"x" * 10_000))[:-30],  # truncated central directory
        make_zip(("app.py", b"x" * 10_000))[100:],
        b"PK\x05\x06" + b"\0" * 10 + b"\xff\xff\xff\xff" + b"\0" * 6,  # absurd offsets
    ],
    ids=["empty-bytes", "text", "random", "truncated", "headless", "bad-eocd"],
)
def test_not_a_zip(store: CodeStore, data: bytes) -> None:
    assert reject(store, data).message == BAD_ZIP


def test_crc_mismatch(store: CodeStore) -> None:
    data = make_zip(("app.py", b"print('hello')\n" * 100), method=zipfile.ZIP_STORED)
    at = data.index(b"print")
    corrupt = data[:at] + b"PRINT" + data[at + 5 :]
    assert reject(store, corrupt).message == BAD_ZIP


def test_encrypted_and_unsupported_compression(store: CodeStore) -> None:
    data = make_zip(("app.py", b"x = 1\n"))
    flags_at = central_headers(data)[0] + 8
    encrypted = data[:flags_at] + bytes([data[flags_at] | 1]) + data[flags_at + 1 :]
    assert reject(store, encrypted).message == BAD_ZIP
    bzip2 = make_zip(("app.py", b"x = 1\n"), method=zipfile.ZIP_BZIP2)
    assert reject(store, bzip2).message == BAD_ZIP


def test_empty_zip(store: CodeStore) -> None:
    data = make_zip()
    assert len(data) == 22
    assert reject(store, data).message == EMPTY_ZIP


def test_fuzzed_zips_fail_cleanly(store: CodeStore) -> None:
    """Random damage gives a package or InvalidParameterValue, never anything else."""
    data = make_zip(
        ("app.py", b"def handler(e, c):\n    return e\n" * 50),
        (entry("bootstrap", 0o100755), b"#!/bin/sh\nexit 0\n"),
        link("alias.py", "app.py"),
        ("lib/", b""),
        ("lib/m.py", os.urandom(500)),
    )
    rng = random.Random(1234)
    for _ in range(400):
        damaged = bytearray(data)
        for _ in range(rng.randint(1, 6)):
            damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        with contextlib.suppress(InvalidParameterValue):
            store.put_zip(bytes(damaged))
        assert not [p for p in store.root.iterdir() if p.name.startswith(".tmp-")]


def test_too_many_entries(store: CodeStore) -> None:
    store.max_entries = 10
    store.put_zip(make_zip(*((f"f{i}", b"") for i in range(10))))
    for path in store.root.iterdir():
        store.remove(path.name.removesuffix(".zip"))
    error = reject(store, make_zip(*((f"f{i}", b"") for i in range(11))))
    assert error.message == "Zip file must have at most 10 entries"


# --- sizes -----------------------------------------------------------------------------------


def test_zip_over_50_mb_is_413(store: CodeStore) -> None:
    with pytest.raises(RequestEntityTooLarge) as caught:
        store.put_zip(b"\0" * (52_428_800 + 1))
    assert (caught.value.code, caught.value.status) == ("RequestEntityTooLargeException", 413)
    assert caught.value.message == (
        "Request must be smaller than 69905067 bytes for the CreateFunction operation"
    )
    with pytest.raises(RequestEntityTooLarge, match="for the UpdateFunctionCode operation"):
        store.put_zip(b"\0" * (52_428_800 + 1), operation="UpdateFunctionCode")
    # At the limit it is not "too large" (just not a zip).
    assert reject(store, b"\0" * 52_428_800).message == BAD_ZIP


@pytest.fixture(scope="module")
def bomb() -> bytes:
    """300 MB of zeros in ~300 KB, honest headers; streamed, never in memory whole."""
    buf = io.BytesIO()
    with (
        zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open("zeros.bin", "w") as out,
    ):
        chunk = bytes(1 << 20)
        for _ in range(300):
            out.write(chunk)
    return buf.getvalue()


def test_zip_bomb_with_honest_headers(store: CodeStore, bomb: bytes) -> None:
    assert len(bomb) < 1_000_000
    assert reject(store, bomb).message == "Unzipped size must be smaller than 262144000 bytes"


def test_zip_bomb_lying_about_its_size(store: CodeStore, bomb: bytes) -> None:
    lying = patch_central(bomb, 0, UNCOMPRESSED, 1000)
    assert reject(store, lying).message == BAD_ZIP  # the CRC of what was read is wrong
    # With the CRC made to match too, still no more than the declared size is written.
    lying = patch_central(lying, 0, CRC, zlib.crc32(bytes(1000)))
    package = store.put_zip(lying)
    assert package.unzipped_size == 1000
    assert (package.directory / "zeros.bin").stat().st_size == 1000


def test_zip_bomb_with_an_impossible_ratio(store: CodeStore) -> None:
    data = make_zip(("zeros.bin", bytes(1 << 20)))
    lying = patch_central(data, 0, UNCOMPRESSED, 200_000_000)
    error = reject(store, lying)
    assert "'zeros.bin'" in error.message and "compression ratio" in error.message


def test_declared_unzipped_size_is_checked_before_extracting(store: CodeStore) -> None:
    store.max_unzipped_size = 100_000
    error = reject(store, make_zip(("a", os.urandom(60_000)), ("b", os.urandom(60_000))))
    assert error.message == "Unzipped size must be smaller than 100000 bytes"


def test_real_bytes_are_counted_while_extracting(
    store: CodeStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Headers can't be trusted: with the header check gone, the byte count still stops it."""
    monkeypatch.setattr(code, "_check_headers", lambda infos, limit: None)
    store.max_unzipped_size = 100_000
    error = reject(store, make_zip(("a", os.urandom(60_000)), ("b", os.urandom(60_000))))
    assert error.message == "Unzipped size must be smaller than 100000 bytes"
    store.put_zip(make_zip(("a", os.urandom(60_000)), ("b", os.urandom(40_000))))


# --- removal and housekeeping ----------------------------------------------------------------


def test_remove(store: CodeStore) -> None:
    data = make_zip(("app.py", b"x"), link("ln", "app.py"))
    package = store.put_zip(data)
    store.remove(package.sha256_b64)
    assert_clean(store.root)
    store.remove(package.sha256_b64)  # idempotent
    with pytest.raises(ResourceNotFound):
        store.open_zip(package.sha256_b64)
    again = store.put_zip(data)
    store.remove(again.directory.name)  # hex works too
    assert_clean(store.root)


@pytest.mark.parametrize("key", ["../../etc", "", "a" * 63, "Zm9v", "g" * 64, "é" * 44])
def test_keys_must_be_sha256(store: CodeStore, key: str) -> None:
    with pytest.raises(ValueError):
        store.remove(key)
    with pytest.raises(ValueError):
        store.zip_path(key)


def test_stale_staging_is_swept_at_start(root: Path) -> None:
    root.mkdir(parents=True)
    (root / ".tmp-old").mkdir()
    (root / ".tmp-old" / "f").write_bytes(b"x")
    (root / ".tmp-old.zip").write_bytes(b"x")
    (root / ".tmp-fresh").mkdir()
    old = time.time() - 7200
    for name in (".tmp-old", ".tmp-old.zip"):
        os.utime(root / name, (old, old))
    CodeStore(root)
    assert sorted(p.name for p in root.iterdir()) == [".tmp-fresh"]


# --- with the engine: the sandbox's unprivileged uid runs a stored package ------------------


APP = """
import os
from helpers import VALUE

def handler(event, context):
    try:
        open(os.path.join(os.environ["LAMBDA_TASK_ROOT"], "new.txt"), "w")
        writable = True
    except OSError:
        writable = False
    return {"value": VALUE, "uid": os.getuid(), "writable": writable}
"""

SHELL_BOOTSTRAP = """#!/bin/sh
set -eu
API="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
while true; do
  HEADERS="$(mktemp)"
  curl -sS -D "$HEADERS" "$API/invocation/next" >/dev/null
  ID=$(grep -i Lambda-Runtime-Aws-Request-Id "$HEADERS" | tr -d '[:space:]' | cut -d: -f2)
  curl -sS -X POST "$API/invocation/$ID/response" -d '{"from": "bootstrap"}' >/dev/null
done
"""


def spec_for(package: CodePackage, runtime: str, handler: str) -> FunctionSpec:
    name = f"store-{uuid.uuid4().hex[:8]}"
    return FunctionSpec(
        name=name,
        arn=f"arn:aws:lambda:us-east-1:000000000000:function:{name}",
        runtime=runtime,
        handler=handler,
        code_dir=str(package.directory),
        code_sha256=package.sha256_b64,
    )


def test_a_stored_package_runs_in_the_engine(engine: EngineHarness) -> None:
    runtimes = installed_pythons()
    if not runtimes:
        pytest.skip("no Python runtime installed")
    store = CodeStore(engine.config.code_dir)
    # 0600 in the zip, as some packagers write: the sandbox uid must still read it.
    data = make_zip(
        (entry("app.py", 0o100600), APP.encode()),
        (entry("lib/helpers.py", 0o100600), b"VALUE = 42\n"),
        link("helpers.py", "lib/helpers.py"),
    )
    package = store.put_zip(data)
    result = engine.invoke(spec_for(package, runtimes[-1], "app.handler"))
    assert result.function_error is None, result.log
    body = json.loads(result.payload)
    assert body["value"] == 42 and body["writable"] is False
    if engine.engine.isolated:
        assert body["uid"] != 0


def test_a_stored_custom_runtime_bootstrap_is_executable(engine: EngineHarness) -> None:
    if shutil.which("curl") is None:
        pytest.skip("the shell bootstrap needs curl")
    store = CodeStore(engine.config.code_dir)
    package = store.put_zip(make_zip((entry("bootstrap", 0o100755), SHELL_BOOTSTRAP.encode())))
    result = engine.invoke(spec_for(package, "provided.al2023", "unused"))
    assert result.function_error is None, result.log
    assert json.loads(result.payload) == {"from": "bootstrap"}
