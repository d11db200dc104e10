"""Numerics: an exponential integrator for the feed-forward chain (``kernel``), the time grid (``grid``),
and an independent tight-tolerance reference solve with scipy (``reference``) used by the tests."""
