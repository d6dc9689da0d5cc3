"""eventweave's benchmarks: ``make bench`` prints them (``python -m benchmarks``)."""
