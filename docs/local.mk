# docs/: the user documentation, installed under $(docdir), and the manual
# pages. logtally-agent.yml.5 and logtally-aggregator.yml.5 are made at build
# time from the programs' own key tables by scripts/config-reference, as
# docs/configuration.md is (that one is committed, and
# test/integration/docs.sh checks it is in step).
dist_doc_DATA = \
	docs/configuration.md \
	docs/design.md \
	docs/operations.md \
	docs/troubleshooting.md
dist_man_MANS = \
	docs/logtally-agent.8 \
	docs/logtally-aggregator.8
nodist_man_MANS = \
	docs/logtally-agent.yml.5 \
	docs/logtally-aggregator.yml.5

docs/logtally-agent.yml.5: logtally-agent$(EXEEXT) $(srcdir)/scripts/config-reference
	$(AM_V_GEN)$(MKDIR_P) docs && \
	$(SHELL) $(srcdir)/scripts/config-reference --man agent ./logtally-agent \
		>$@.tmp && mv $@.tmp $@
docs/logtally-aggregator.yml.5: logtally-aggregator$(EXEEXT) $(srcdir)/scripts/config-reference
	$(AM_V_GEN)$(MKDIR_P) docs && \
	$(SHELL) $(srcdir)/scripts/config-reference --man aggregator \
		./logtally-aggregator >$@.tmp && mv $@.tmp $@
CLEANFILES += $(nodist_man_MANS)
