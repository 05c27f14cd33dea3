# scripts/: nothing to build; shipped in the tarball: the test runner (CI's
# entry point), dependency installer, quickstart, fuzzer runner, the dev
# services (private MariaDB and Kafka), the sample access-log writer and the
# two benchmarks against kcat, whose figures bench/README.md reads; and the
# configuration reference maker (docs/local.mk).
dist_noinst_SCRIPTS += \
	scripts/bench-agent \
	scripts/bench-aggregator \
	scripts/check-packages \
	scripts/config-reference \
	scripts/dev-services \
	scripts/fuzz \
	scripts/install-deps \
	scripts/quickstart \
	scripts/sample-log \
	scripts/test
EXTRA_DIST += bench/README.md
