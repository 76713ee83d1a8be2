"""`python -m mpipaint` is the `mpipaint` command."""
from mpipaint.cli import main

main()
