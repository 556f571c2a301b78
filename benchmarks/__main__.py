"""``python -m benchmarks`` (``make bench``): run every benchmark script."""

from benchmarks import engines

engines.main()
