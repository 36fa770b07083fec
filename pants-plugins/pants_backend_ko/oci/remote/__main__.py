"""``python -m pants_backend_ko.oci.remote``: see :mod:`pants_backend_ko.oci.remote.cli`."""

import sys

from pants_backend_ko.oci.remote.cli import main

sys.exit(main())
