# test/integration/: fragment of the top Makefile.am; appends only.

# The development services: scripts/dev-services and logtally-devbroker.
# tap.sh is the helper every integration test sources.
TESTS += test/integration/dev_services.sh test/integration/devbroker.sh
dist_check_SCRIPTS += test/integration/dev_services.sh test/integration/devbroker.sh
dist_noinst_DATA += test/integration/tap.sh

# The command line of both programs.
TESTS += test/integration/cli.sh
dist_check_SCRIPTS += test/integration/cli.sh

# The agent end to end against the dev broker: batch runs, odd input,
# rotation, many files, faults. agent_lib.sh is their shared helper.
dist_noinst_DATA += test/integration/agent_lib.sh
TESTS += test/integration/agent_batch.sh test/integration/agent_input.sh
dist_check_SCRIPTS += test/integration/agent_batch.sh test/integration/agent_input.sh
TESTS += test/integration/agent_rotation.sh test/integration/agent_behind.sh
dist_check_SCRIPTS += test/integration/agent_rotation.sh test/integration/agent_behind.sh
TESTS += test/integration/agent_files.sh
dist_check_SCRIPTS += test/integration/agent_files.sh
TESTS += test/integration/agent_watch.sh test/integration/agent_registry.sh
dist_check_SCRIPTS += test/integration/agent_watch.sh test/integration/agent_registry.sh
TESTS += test/integration/agent_crash.sh test/integration/agent_outage.sh
dist_check_SCRIPTS += test/integration/agent_crash.sh test/integration/agent_outage.sh

# The aggregator end to end: exact counts against a Perl oracle, through faults.
dist_noinst_DATA += test/integration/aggregator_lib.sh
TESTS += test/integration/aggregator_batch.sh
dist_check_SCRIPTS += test/integration/aggregator_batch.sh
TESTS += test/integration/aggregator_crash.sh test/integration/aggregator_group.sh
dist_check_SCRIPTS += test/integration/aggregator_crash.sh test/integration/aggregator_group.sh
TESTS += test/integration/aggregator_db.sh
dist_check_SCRIPTS += test/integration/aggregator_db.sh
TESTS += test/integration/aggregator_input.sh
dist_check_SCRIPTS += test/integration/aggregator_input.sh
TESTS += test/integration/aggregator_offsets.sh
dist_check_SCRIPTS += test/integration/aggregator_offsets.sh

# The aggregator's HTTP API against rows the test writes (issue 5).
TESTS += test/integration/aggregator_api.sh
dist_check_SCRIPTS += test/integration/aggregator_api.sh

# The dashboard in headless Chromium after a pipeline run (issue 5).
TESTS += test/integration/aggregator_dashboard.sh
dist_check_SCRIPTS += test/integration/aggregator_dashboard.sh
# Screenshots the dashboard test keeps for people to look at.
clean-local: clean-test-artifacts
clean-test-artifacts:
	-rm -rf test-artifacts
.PHONY: clean-test-artifacts

# config/grafana/logtally.json: its queries against known rows of counts.
TESTS += test/integration/grafana.sh
dist_check_SCRIPTS += test/integration/grafana.sh
# Alert rules end to end: a receiver of the test's own that fails the first
# attempts, one firing and one resolved message, the counts unaffected.
TESTS += test/integration/aggregator_alerts.sh
dist_check_SCRIPTS += test/integration/aggregator_alerts.sh
# copytruncate under load (issue 10): a private nginx served by ab, rotated by
# logrotate -f while it writes; counts in MariaDB against what nginx logged.
TESTS += test/integration/agent_copytruncate.sh
dist_check_SCRIPTS += test/integration/agent_copytruncate.sh
TESTS += test/integration/aggregator_signals.sh
dist_check_SCRIPTS += test/integration/aggregator_signals.sh
# The model-based rotation test with the real agent binary (issue 10); it
# needs test/model/model_rotation, built by make check.
TESTS += test/integration/agent_model.sh
dist_check_SCRIPTS += test/integration/agent_model.sh
