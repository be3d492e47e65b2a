#!/usr/bin/env python3
"""Build the site: ``python build.py`` (or ``build``, ``check``; ``--help`` for options)."""

import sys
from pathlib import Path

from constat.cli import main

if __name__ == "__main__":
    sys.exit(main(default_root=Path(__file__).resolve().parent))
