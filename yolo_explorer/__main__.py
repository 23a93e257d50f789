"""`python -m yolo_explorer`: see `cli`."""

import sys

from .cli import main

sys.exit(main())
