"""Map Lambda runtime identifiers to interpreters installed on this machine."""

from __future__ import annotations

import glob
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

from nimbus.errors import InvalidParameterValue, RuntimeNotInstalled
from nimbus.models import CUSTOM_RUNTIMES, PYTHON_RUNTIMES


def _version_key(path: str) -> tuple[int, ...]:
    name = Path(path).parent.parent.name  # .../versions/3.12.1/bin/python3.12
    return tuple(int(p) if p.isdigit() else -1 for p in name.split("."))


def _candidates(version: str) -> list[str]:
    """Where a `python3.X` may live, best first."""
    found: list[str] = []
    pyenv_root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    pyenv = glob.glob(f"{pyenv_root}/versions/{version}.*/bin/python{version}")
    found += sorted(pyenv, key=_version_key, reverse=True)
    for directory in ("/usr/local/bin", "/usr/bin"):
        found.append(f"{directory}/python{version}")
    which = shutil.which(f"python{version}")
    if which:
        found.append(which)
    return found


class RuntimeRegistry:
    """Resolves `python3.12` -> an interpreter path; `provided*` -> exec'd bootstraps."""

    def __init__(
        self,
        overrides: dict[str, str] | None = None,
        search: Callable[[str], list[str]] = _candidates,
    ) -> None:
        self._overrides = dict(overrides or {})
        self._search = search
        for runtime in PYTHON_RUNTIMES:
            env_name = "NIMBUS_RUNTIME_" + runtime.upper().replace(".", "_")
            if os.environ.get(env_name):
                self._overrides.setdefault(runtime, os.environ[env_name])
        self._cache: dict[str, str] = {}

    def interpreter(self, runtime: str) -> str:
        if runtime in self._cache:
            return self._cache[runtime]
        if runtime in CUSTOM_RUNTIMES:
            # provided runtimes exec the function's bootstrap; the zygote is only a forker.
            path = sys.executable
        elif runtime in PYTHON_RUNTIMES:
            path = self._find_python(runtime)
        else:
            raise InvalidParameterValue(
                f"Value {runtime} at 'runtime' failed to satisfy constraint: Member must satisfy "
                f"enum value set: [{', '.join(PYTHON_RUNTIMES + CUSTOM_RUNTIMES)}]"
            )
        self._cache[runtime] = path
        return path

    def _find_python(self, runtime: str) -> str:
        version = runtime.removeprefix("python")
        candidates = [self._overrides[runtime]] if runtime in self._overrides else []
        candidates += self._search(version)
        for path in candidates:
            if os.path.isfile(path) and os.access(path, os.X_OK):
                return path
        env_name = "NIMBUS_RUNTIME_" + runtime.upper().replace(".", "_")
        raise RuntimeNotInstalled(
            f"The runtime {runtime} is not installed on this Nimbus node: no python{version} "
            f"interpreter was found (looked in pyenv, /usr/local/bin, /usr/bin and PATH). "
            f"Install it (e.g. `pyenv install {version}` or `apt-get install python{version}`) "
            f"or point Nimbus at one with {env_name}=/path/to/python{version}."
        )

    def available(self) -> dict[str, str | None]:
        """Every supported runtime and its interpreter, or None when missing."""
        result: dict[str, str | None] = {}
        for runtime in PYTHON_RUNTIMES + CUSTOM_RUNTIMES[:1]:
            try:
                result[runtime] = self.interpreter(runtime)
            except RuntimeNotInstalled:
                result[runtime] = None
        return result
