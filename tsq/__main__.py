"""`python -m tsq ...`"""

import sys

from tsq.cli import main

sys.exit(main())
