"""The `kzoo` command line (also `python -m kzoo`): entry points only.

The CLI imports the library and is never imported by it. `main` is the click
group; every command's user errors end in one `Error: ...` line (see
`kzoo.cli.main.KzooGroup`).
"""

from kzoo.cli.main import main

__all__ = ["main"]
