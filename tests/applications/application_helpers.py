"""Helpers of the application tests (`from application_helpers import ...`).

The programs are loaded by path, as a user who copies one runs it, not as a
package: `applications/` has no `__init__.py`.
"""

import importlib.util
from pathlib import Path

APPLICATIONS = Path(__file__).resolve().parents[2] / "applications"


def program_path(name):
    """The path of `applications/<name>.py`."""
    return APPLICATIONS / f"{name}.py"


def load_program(name):
    """The module `applications/<name>.py`, freshly imported from its file."""
    spec = importlib.util.spec_from_file_location(f"kzoo_application_{name}", program_path(name))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def last_line(text):
    """The last non-empty line of `text`."""
    return [line for line in text.splitlines() if line.strip()][-1]


__all__ = ["APPLICATIONS", "last_line", "load_program", "program_path"]
