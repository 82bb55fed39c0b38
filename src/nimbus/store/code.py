"""The code store: Lambda deployment packages (CreateFunction's ZipFile), checked, unpacked.

Content-addressed: ``root/<sha256 hex>/`` is the tree (bind-mounted read-only at /var/task,
read by unprivileged uids), ``root/<sha256 hex>.zip`` the upload (GetFunction's download);
both are staged in ``root/.tmp-*`` and renamed into place. Errors use AWS' code, status and
text where users have quoted them (sources by the messages); the other checks are Nimbus'
own (AWS documents none): InvalidParameterValueException naming the entry.
"""

from __future__ import annotations

import base64
import errno
import hashlib
import io
import os
import re
import shutil
import stat
import tempfile
import time
import uuid
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from nimbus.errors import InvalidParameterValue, RequestEntityTooLarge, ResourceNotFound

MAX_RATIO = 1100  # deflate can't beat ~1032:1: a higher declared ratio is a lying header
# AWS: 400 InvalidParameterValueException (terraform-aws-github-runner#2269, tobilg/lsh#1
# for a 22-byte zip, awslambda-psycopg2#82 and GirlfriendGPT#74 for the unzipped size).
BAD_ZIP = "Could not unzip uploaded file. Please check your file, then try to upload again."
EMPTY_ZIP = "Uploaded file must be a non-empty zip"
TOO_BIG = "Unzipped size must be smaller than {} bytes"

_DRIVE = re.compile(r"[A-Za-z]:")
_HEX = re.compile(r"[0-9a-f]{64}")
# What every Lambda packager writes. zipfile inflates bzip2/lzma with no output bound per
# read: a few KB of those could balloon in memory before any check of ours sees a byte.
_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
_Entry = tuple[zipfile.ZipInfo, str, str]  # (info, path in the package, dir|file|link)


@dataclass(frozen=True)
class CodePackage:
    sha256_b64: str  # AWS' CodeSha256
    size: int  # zipped bytes: AWS' CodeSize
    directory: Path
    unzipped_size: int


class CodeStore:
    """Validates, unpacks and keeps deployment packages under ``root``. Thread-safe.

    Methods taking ``code_sha256`` accept it in hex or in base64 (AWS' CodeSha256).
    The limits are AWS' quotas; set them per instance to change them.
    """

    max_zip_size = 52_428_800  # 50 MB, a direct upload
    max_unzipped_size = 262_144_000  # 250 MB
    max_entries = 100_000

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        cutoff = time.time() - 3600
        for path in root.glob(".tmp-*"):  # left by a process that died mid-put
            with suppress(OSError):
                if path.lstat().st_mtime < cutoff:
                    (shutil.rmtree if path.is_dir() else os.unlink)(path)

    def put_zip(
        self, data: bytes, operation: str = "CreateFunction", direct: bool = True
    ) -> CodePackage:
        """Store a package once per content; ``operation`` only words the 413 message.
        A package from S3 (``direct`` False) is not held to the 50 MB of a direct upload,
        only to the 250 MB unzipped, as on AWS."""
        if not direct and len(data) > self.max_unzipped_size:
            raise InvalidParameterValue(TOO_BIG.format(self.max_unzipped_size))
        if direct and len(data) > self.max_zip_size:  # AWS: 413, the limit base64-encoded
            encoded = -(-4 * self.max_zip_size // 3)
            raise RequestEntityTooLarge(
                f"Request must be smaller than {encoded} bytes for the {operation} operation"
            )
        digest = hashlib.sha256(data).digest()
        directory = self.root / digest.hex()
        package = (base64.b64encode(digest).decode(), len(data), directory)
        if directory.is_dir() and self.zip_path(digest.hex()).is_file():
            return CodePackage(*package, _tree_size(directory))  # validated when first put
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=self.root))
        try:
            unzipped = self._unpack(data, tmp)
            tmp.chmod(0o755)
            self._keep_zip(digest.hex(), data)  # first: a stored tree implies its zip
            try:
                tmp.rename(directory)
            except OSError as exc:  # a concurrent put of the same zip won: same tree
                if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return CodePackage(*package, unzipped)

    def zip_path(self, code_sha256: str) -> Path:
        return self.root / f"{_hex(code_sha256)}.zip"

    def open_zip(self, code_sha256: str) -> BinaryIO:
        try:
            return open(self.zip_path(code_sha256), "rb")
        except FileNotFoundError:
            raise ResourceNotFound(f"Code package not found: {code_sha256}") from None

    def remove(self, code_sha256: str) -> None:
        """Delete a package. The caller knows no version uses it and serialises with puts."""
        sha_hex = _hex(code_sha256)
        trash = self.root / f".tmp-{uuid.uuid4().hex}"
        with suppress(FileNotFoundError):
            (self.root / sha_hex).rename(trash)  # nobody sees a half-deleted tree
            shutil.rmtree(trash)
        self.zip_path(sha_hex).unlink(missing_ok=True)

    def _unpack(self, data: bytes, tmp: Path) -> int:
        # zipfile makes an object per central-directory entry: bound them before parsing.
        # Every entry starts with this signature, so the count is an upper bound.
        if data.count(b"PK\x01\x02") > self.max_entries:
            raise InvalidParameterValue(f"Zip file must have at most {self.max_entries} entries")
        with _zip_errors():
            archive = zipfile.ZipFile(io.BytesIO(data))
        with archive:
            infos = archive.infolist()
            if not infos:
                raise InvalidParameterValue(EMPTY_ZIP)
            _check_headers(infos, self.max_unzipped_size)
            entries, kinds, links = _plan(archive, infos)
            _check_links(links)
            total = 0
            for info, rel, kind in entries:
                path = tmp / rel
                path.parent.mkdir(parents=True, exist_ok=True)  # planned: real dirs only
                if kind == "dir":
                    path.mkdir(exist_ok=True)
                elif kind == "link":
                    os.symlink(links[rel], path)
                else:
                    total = self._copy(archive, info, path, total)
        for rel, kind in kinds.items():  # fixed modes: umask-proof, never setgid/sticky
            if kind == "dir":
                os.chmod(tmp / rel, 0o755)
        return total

    def _copy(self, archive: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path, total: int) -> int:
        """Stream one member out, counting the real bytes: headers may lie about sizes.

        The plan refuses overwrites and writes through links; O_EXCL|O_NOFOLLOW hold anyway.
        """
        with _zip_errors():
            src = archive.open(info)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(path, flags, 0o600)
        # Any x bit -> 0755 (a custom runtime's bootstrap), else 0644; never setuid/setgid.
        os.fchmod(fd, 0o755 if (info.external_attr >> 16) & 0o111 else 0o644)
        with src, os.fdopen(fd, "wb") as out:
            while True:
                with _zip_errors():
                    chunk = src.read(1 << 20)
                if not chunk:
                    return total
                total += len(chunk)
                if total > self.max_unzipped_size:
                    raise InvalidParameterValue(TOO_BIG.format(self.max_unzipped_size))
                out.write(chunk)

    def _keep_zip(self, sha_hex: str, data: bytes) -> None:
        final = self.zip_path(sha_hex)
        if final.is_file():
            return
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".zip", dir=self.root)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.chmod(tmp, 0o644)
            os.replace(tmp, final)  # same bytes whoever wins
        finally:
            Path(tmp).unlink(missing_ok=True)


@contextmanager
def _zip_errors() -> Iterator[None]:
    # Wraps zipfile calls only, on bytes in memory: whatever it raises (an undocumented
    # set: BadZipFile, EOFError, zlib.error, struct.error, ...) means a bad zip.
    try:
        yield
    except Exception as exc:
        raise InvalidParameterValue(BAD_ZIP) from exc


def _bad(name: str, why: str) -> InvalidParameterValue:
    return InvalidParameterValue(f"Invalid zip entry {name!r}: {why}")


def _check_headers(infos: list[zipfile.ZipInfo], max_unzipped: int) -> None:
    """Refuse early what the headers give away (extraction counts the real bytes too)."""
    for info in infos:
        if info.flag_bits & 0x1 or info.compress_type not in _METHODS:
            raise InvalidParameterValue(BAD_ZIP)  # encrypted or unsupported compression
        if info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise _bad(info.orig_filename, f"compression ratio over {MAX_RATIO}:1 (zip bomb)")
    if sum(info.file_size for info in infos) > max_unzipped:
        raise InvalidParameterValue(TOO_BIG.format(max_unzipped))


def _parts(name: str) -> list[str]:
    if "\0" in name:
        raise _bad(name, "NUL byte in the name")
    if "\\" in name:
        raise _bad(name, "backslash in the name (the separator is '/')")
    if name.startswith("/") or _DRIVE.match(name):
        raise _bad(name, "absolute path")
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise _bad(name, "'..' in the path")
    if len(name.encode()) > 4000 or any(len(part.encode()) > 255 for part in parts):
        raise _bad(name, "name too long")
    return parts


def _plan(
    archive: zipfile.ZipFile, infos: list[zipfile.ZipInfo]
) -> tuple[list[_Entry], dict[str, str], dict[str, str]]:
    """Check every name before writing anything. Returns entries, kind by path, links."""
    entries: list[_Entry] = []
    kinds: dict[str, str] = {}
    links: dict[str, str] = {}
    for info in infos:
        name = info.orig_filename  # .filename is cut at a NUL byte
        parts = _parts(name)
        mode = info.external_attr >> 16
        kind = "dir" if info.is_dir() else "link" if stat.S_ISLNK(mode) else "file"
        if not parts:
            if kind == "dir":
                continue  # "./"
            raise _bad(name, "empty name")
        for i in range(1, len(parts)):
            parent = "/".join(parts[:i])
            if (seen := kinds.setdefault(parent, "dir")) != "dir":  # `link -> x`, `link/y`
                raise _bad(name, f"path goes through the {seen} {parent!r}")
        rel = "/".join(parts)
        if rel in kinds and (kinds[rel], kind) != ("dir", "dir"):
            raise _bad(name, "duplicate or conflicting name")  # unzippers differ on who wins
        kinds[rel] = kind
        if kind == "link":
            if info.file_size >= 4096:
                raise _bad(name, "symlink target too long")
            with _zip_errors():
                raw = archive.read(info)  # at most file_size bytes: zipfile stops there
            target = raw.decode(errors="replace")
            if not target or "\0" in target or "\ufffd" in target or target.startswith("/"):
                raise _bad(name, "symlink target must be a relative path inside the package")
            links[rel] = target
        entries.append((info, rel, kind))
    return entries, kinds, links


def _check_links(links: dict[str, str]) -> None:
    """Resolve every link as the kernel would, within the tree: none may leave it."""
    # Lexical checks are not enough: with `s -> .`, `t -> s/..` climbs out of the package.
    budget = 2_000_000  # steps for the whole package: hostile chains can't stall us
    for link, target in links.items():
        here, todo, hops = link.split("/")[:-1], target.split("/")[::-1], 0
        while todo:
            if (budget := budget - 1) < 0:
                raise _bad(link, "too many symlinks to resolve")
            part = todo.pop()
            if part == "..":
                if not here:
                    raise _bad(link, f"symlink target {target!r} points outside the package")
                here.pop()
            elif (step := "/".join([*here, part])) in links:
                hops += 1
                if hops > 40:  # Linux' MAXSYMLINKS
                    raise _bad(link, "symlink chain too long or looping")
                todo.extend(links[step].split("/")[::-1])
            elif part not in ("", "."):
                here.append(part)


def _tree_size(directory: Path) -> int:
    walk = os.walk(directory)
    stats = (os.lstat(os.path.join(base, name)) for base, _, names in walk for name in names)
    return sum(st.st_size for st in stats if stat.S_ISREG(st.st_mode))


def _hex(code_sha256: str) -> str:
    """Hex or base64 SHA-256 -> hex; anything else is a ValueError (it becomes a path)."""
    hexa = _HEX.fullmatch(code_sha256)
    raw = bytes.fromhex(code_sha256) if hexa else base64.b64decode(code_sha256, validate=True)
    if len(raw) != 32:
        raise ValueError(f"not a SHA-256 (hex or base64): {code_sha256!r}")
    return raw.hex()
