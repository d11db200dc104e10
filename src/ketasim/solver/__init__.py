"""Numerics: an exponential integrator for the feed-forward chain (``kernel``), the time grid (``grid``),
and an independent tight-tolerance reference solve with scipy (``reference``) used by the tests."""

#: the ``logging`` channel of the one line said before the compiled kernel is compiled (``kernel.kernel_for``, at
#: INFO): the command line prints it on stderr (``ketasim.cli.main``); a library caller sees it only when it sets up
#: logging at INFO. A light module: the CLI names the channel without importing numba.
COMPILE_LOGGER = "ketasim.compile"
