"""``python -m paramtool``."""

from paramtool.cli import main

if __name__ == "__main__":
    main()
