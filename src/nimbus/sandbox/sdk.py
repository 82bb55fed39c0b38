"""The AWS SDK that Lambda's Python runtimes include: boto3 and what it needs.

Functions `import boto3` without packaging it, as on AWS. Nimbus takes the pure-Python
packages from its own installation (any Python 3.9+ can import them), copies them once per
data directory (hard links where the filesystem allows), and each environment sees them
read-only at SANDBOX_PATH, after /var/task and /opt on sys.path, so a function's own
boto3 wins as it does on AWS.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import uuid
from importlib import metadata
from pathlib import Path

log = logging.getLogger("nimbus.sandbox")
SANDBOX_PATH = "/var/lang/sdk"
PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six.py")
DISTRIBUTIONS = ("boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "urllib3")


def _source() -> Path | None:
    try:
        import boto3
    except ImportError:
        return None
    return Path(boto3.__file__).resolve().parent.parent


def _stamp() -> str:
    versions = []
    for name in DISTRIBUTIONS:
        try:
            versions.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{name}==?")
    return "\n".join(versions) + "\n"


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def prepare(data_dir: Path) -> Path | None:
    """The SDK folder under data_dir (made or refreshed when Nimbus' boto3 changed); None
    when boto3 can't be found (functions then need to package it, and a warning says so)."""
    source = _source()
    if source is None:
        log.warning("boto3 not found: functions must package it themselves")
        return None
    target = data_dir / "sdk"
    stamp = _stamp()
    marker = target / ".versions"
    if marker.exists() and marker.read_text() == stamp:
        return target
    staging = data_dir / f".sdk-{uuid.uuid4().hex[:8]}"
    staging.mkdir(parents=True)
    for name in PACKAGES:
        path = source / name
        if path.is_dir():
            shutil.copytree(
                path,
                staging / name,
                copy_function=_link_or_copy,
                ignore=shutil.ignore_patterns("__pycache__"),
            )
        elif path.exists():
            _link_or_copy(str(path), str(staging / name))
    (staging / ".versions").write_text(stamp)
    os.chmod(staging, 0o755)
    if target.exists():
        shutil.rmtree(target)
    staging.rename(target)
    return target


async def compile_for(sdk_dir: Path, interpreter: str, cache_tag: str | None) -> None:
    """Bytecode of the SDK for one runtime's Python (its `sys.implementation.cache_tag`, as
    its zygote reported it), made once in the background: the folder is read-only inside
    environments, so without it every cold start that imports boto3 compiles botocore
    again (most of a second)."""
    if cache_tag is None:
        return
    marker = sdk_dir / f".compiled-{cache_tag}"
    if marker.exists():
        return
    process = await asyncio.create_subprocess_exec(
        interpreter,
        "-m",
        "compileall",
        "-q",
        "-j",
        "1",
        "--invalidation-mode",
        "unchecked-hash",
        str(sdk_dir),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        status = await process.wait()
    finally:
        if process.returncode is None:  # cancelled: the server is stopping
            process.kill()
            await process.wait()
    if status == 0:
        marker.touch()
    else:
        log.warning("could not compile the SDK with %s (functions still work)", interpreter)
