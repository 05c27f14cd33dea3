# config/: fragment of the top Makefile.am; appends only.
dist_noinst_DATA += config/agent.yml config/aggregator.yml
dist_noinst_DATA += config/schema.sql

# The Grafana dashboard over the counts table (README: Grafana).
dist_noinst_DATA += config/grafana/logtally.json
