# scripts/: fragment of the top Makefile.am; appends only.
dist_noinst_SCRIPTS += scripts/test scripts/install-deps
dist_noinst_SCRIPTS += scripts/quickstart
dist_noinst_SCRIPTS += scripts/fuzz

# Start, stop and describe the private MariaDB and dev Kafka broker.
dist_noinst_SCRIPTS += scripts/dev-services

# The agent's benchmark against kcat (issue 3); bench/README.md reads its figures.
dist_noinst_SCRIPTS += scripts/bench-agent
EXTRA_DIST += bench/README.md

# Sample access lines for the quickstart, the tests and the benchmarks.
dist_noinst_SCRIPTS += scripts/sample-log

# The aggregator's benchmark against kcat (issue 4); bench/README.md reads its figures.
dist_noinst_SCRIPTS += scripts/bench-aggregator
