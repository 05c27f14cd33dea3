# config/: nothing to build; the example configurations (every key, its
# default, a comment), the database schema and the Grafana dashboard over the
# counts table, shipped in the tarball.
dist_noinst_DATA += \
	config/agent.yml \
	config/aggregator.yml \
	config/grafana/logtally.json \
	config/schema.sql
