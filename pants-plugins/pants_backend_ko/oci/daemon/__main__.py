"""``python -m pants_backend_ko.oci.daemon``: see :mod:`pants_backend_ko.oci.daemon.cli`."""

import sys

from pants_backend_ko.oci.daemon.cli import main

sys.exit(main())
