"""`python -m scheduler` and the `scheduler` console script."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    from scheduler.cli import main as cli_main

    code = cli_main(argv)
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] != ["simulate"] and argv is None:
        # A scheduler process ends *now*: bind workers or a watch blocked in a socket read must
        # not keep a process that lost its Lease alive. Flush what was logged first.
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


if __name__ == "__main__":
    sys.exit(main())
