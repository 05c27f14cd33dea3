# test/integration/: nothing to build; TAP scripts that run the real programs
# against the dev broker and the private MariaDB of scripts/dev-services.
# Every script sources tap.sh; agent_*.sh share agent_lib.sh and
# aggregator_*.sh aggregator_lib.sh (exact counts against a Perl oracle).
# Beyond the services, some need:
#   agent_copytruncate.sh    a private nginx driven by ab and rotated by
#                            logrotate -f while it writes (issue 10)
#   agent_model.sh           test/model/model_rotation, which make check builds
#   aggregator_alerts.sh     a webhook receiver of its own that fails the first
#                            attempts
#   aggregator_dashboard.sh  headless Chromium; keeps its screenshots in
#                            test-artifacts/ for people to look at
#   grafana.sh               config/grafana/logtally.json, queried against
#                            known rows of counts
#   install.sh               no service: make install DESTDIR of this build
#                            tree, systemd-analyze and logrotate (skipped
#                            when missing)
integration_tests = \
	test/integration/agent_batch.sh \
	test/integration/agent_behind.sh \
	test/integration/agent_copytruncate.sh \
	test/integration/agent_crash.sh \
	test/integration/agent_files.sh \
	test/integration/agent_input.sh \
	test/integration/agent_model.sh \
	test/integration/agent_outage.sh \
	test/integration/agent_registry.sh \
	test/integration/agent_rotation.sh \
	test/integration/agent_watch.sh \
	test/integration/aggregator_alerts.sh \
	test/integration/aggregator_api.sh \
	test/integration/aggregator_batch.sh \
	test/integration/aggregator_crash.sh \
	test/integration/aggregator_dashboard.sh \
	test/integration/aggregator_db.sh \
	test/integration/aggregator_group.sh \
	test/integration/aggregator_input.sh \
	test/integration/aggregator_latency_api.sh \
	test/integration/aggregator_measures.sh \
	test/integration/aggregator_offsets.sh \
	test/integration/aggregator_secrets.sh \
	test/integration/aggregator_signals.sh \
	test/integration/aggregator_tls.sh \
	test/integration/aggregator_when.sh \
	test/integration/cli.sh \
	test/integration/dev_services.sh \
	test/integration/devbroker.sh \
	test/integration/docs.sh \
	test/integration/grafana.sh \
	test/integration/https.sh \
	test/integration/install.sh
TESTS += $(integration_tests)
dist_check_SCRIPTS += $(integration_tests)
dist_noinst_DATA += \
	test/integration/agent_lib.sh \
	test/integration/aggregator_lib.sh \
	test/integration/cdp.pl \
	test/integration/tap.sh

clean-local: clean-test-artifacts
clean-test-artifacts:
	-rm -rf test-artifacts
.PHONY: clean-test-artifacts
