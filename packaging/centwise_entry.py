"""PyInstaller entry point: the ``centwise`` console script (app or CLI)."""

import sys

from app.launcher import main

if __name__ == "__main__":
    sys.exit(main())
