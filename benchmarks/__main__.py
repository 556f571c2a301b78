"""``python -m benchmarks [--quick] [--out FILE]`` (``make bench``): the same as ``abm bench``.

The suite lives in :mod:`abm.bench` so that an installed package can run it too;
``benchmarks/engines.py`` is the older two-engine comparison, kept as a quick check.
"""

import sys

from abm.bench import main

sys.exit(main())
