"""`python -m lab`: the `lab` command (lab/cli.py)."""
import sys

from lab.cli import main

sys.exit(main())
