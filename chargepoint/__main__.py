"""``python -m chargepoint``: the same as the ``chargepoint`` console script."""

import sys

from chargepoint.service.cli import main

sys.exit(main())
