"""`python -m mlops_declare` is the `mlops-declare` command."""

import sys

from mlops_declare.cli import main

sys.exit(main())
