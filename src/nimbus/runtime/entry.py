"""Start a zygote: `python -I entry.py SPEC_JSON` under the function's interpreter.

Loads this directory as the package `_nimbus_runtime` (a name user code never
shadows), so the runtime needs nothing on sys.path and nothing from Nimbus.
"""

import importlib.util
import os
import sys

if __name__ == "__main__":
    here = os.path.dirname(os.path.abspath(__file__))
    spec = importlib.util.spec_from_file_location(
        "_nimbus_runtime", os.path.join(here, "__init__.py"), submodule_search_locations=[here]
    )
    package = importlib.util.module_from_spec(spec)
    sys.modules["_nimbus_runtime"] = package
    spec.loader.exec_module(package)
    from _nimbus_runtime import zygote

    zygote.main(sys.argv[1])
