"""``python -m unibind.cli``: the ``unibind`` command."""

from unibind.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
