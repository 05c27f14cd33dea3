# scripts/: fragment of the top Makefile.am; appends only.
dist_noinst_SCRIPTS += scripts/test scripts/install-deps
dist_noinst_SCRIPTS += scripts/quickstart
dist_noinst_SCRIPTS += scripts/fuzz

# Start, stop and describe the private MariaDB and dev Kafka broker.
dist_noinst_SCRIPTS += scripts/dev-services
