"""``python -m pants_backend_ko.tool``: see :mod:`pants_backend_ko.tool.main`."""

import sys

from pants_backend_ko.tool.main import main

sys.exit(main())
