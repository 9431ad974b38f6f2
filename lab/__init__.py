"""The lab around the scheduler: host plumbing (host/), images (images/), providers (providers/),
the workshop (workshop/) and the `lab` command (cli.py)."""
