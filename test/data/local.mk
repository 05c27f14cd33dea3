# test/data/: nothing to build; the inputs of the unit and integration tests
# (access-log cases, good and bad configurations), shipped in the tarball.
EXTRA_DIST += test/data
