"""`python -m kzoo`: the `kzoo` command line."""

from kzoo.cli import main

if __name__ == "__main__":
    main()
