# test/data/: inputs of the unit and integration tests.
EXTRA_DIST += test/data
