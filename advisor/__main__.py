"""python -m advisor: the same as the `advisor` console script."""
from advisor.cli.main import main

main()
