"""Entry point of the policy pack: the engine runs `python -u -m pulumi.policy <engine> <this directory>` in this
directory (pulumi-language-python, RunPlugin), which runpy-runs this file.

Python then puts this directory itself, not its parent, on sys.path, and a published copy lives in a directory named
after its version: this file imports the directory as a package of a fixed name, so the pack's relative imports work
wherever it is installed, without this repository. Tests never import this file (it serves until stopped).
"""

import importlib
import importlib.util
import sys
from pathlib import Path

PACKAGE = "envstack_policy_pack"


def load_package(directory: Path) -> None:
    spec = importlib.util.spec_from_file_location(PACKAGE, directory / "__init__.py",
                                                  submodule_search_locations=[str(directory)])
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load the policy pack from {directory}")
    package = importlib.util.module_from_spec(spec)
    sys.modules[PACKAGE] = package
    spec.loader.exec_module(package)


load_package(Path(__file__).resolve().parent)
importlib.import_module(f"{PACKAGE}.pack").serve()
