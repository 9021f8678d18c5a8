"""`python -m crucible.tgidev --model PATH [--adapter PATH] [--port N]` (what `crucible tgi-dev` runs)."""

from crucible.tgidev.cli import main

main()
