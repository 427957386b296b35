"""``python -m haven``: the same program as ``haven``."""

from haven.cli import main

if __name__ == "__main__":
    main()
