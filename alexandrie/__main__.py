"""``python -m alexandrie``: the same command line as ``alexandrie``."""

from .cli import main

main(prog_name="alexandrie")
