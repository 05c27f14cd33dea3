# docs/: the user documentation, installed under $(docdir), and the manual
# pages. logtally.yml.5 is made at build time from the programs' own key
# tables by scripts/config-reference, as docs/configuration.md is (that one
# is committed, and test/integration/docs.sh checks it is in step).
dist_doc_DATA = \
	docs/configuration.md \
	docs/design.md \
	docs/operations.md \
	docs/troubleshooting.md
dist_man_MANS = \
	docs/logtally-agent.8 \
	docs/logtally-aggregator.8
nodist_man_MANS = docs/logtally.yml.5

docs/logtally.yml.5: logtally-agent$(EXEEXT) logtally-aggregator$(EXEEXT) \
		$(srcdir)/scripts/config-reference
	$(AM_V_GEN)$(MKDIR_P) docs && \
	$(SHELL) $(srcdir)/scripts/config-reference --man ./logtally-agent \
		./logtally-aggregator >$@.tmp && mv $@.tmp $@
CLEANFILES += docs/logtally.yml.5
