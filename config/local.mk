# config/: nothing to build; the example configurations (every key, its
# default, a comment), the database schema, the Grafana dashboard over the
# counts table and logrotate snippets for the web servers, shipped in the
# tarball. make install puts the schema, the dashboard and the snippets in
# $(pkgdatadir), and the two configurations in $(sysconfdir)/logtally.
dist_noinst_DATA += \
	config/agent.yml \
	config/aggregator.yml
dist_pkgdata_DATA += config/schema.sql
grafanadir = $(pkgdatadir)/grafana
dist_grafana_DATA = config/grafana/logtally.json
# Samples for /etc/logrotate.d: installing them there is a package's call.
logrotatedir = $(pkgdatadir)/logrotate
dist_logrotate_DATA = \
	config/logrotate/apache2 \
	config/logrotate/nginx

# The configurations are an operator's to edit: an install never replaces
# one that is there, and uninstall removes one only while it is still the
# sample (cmp), so that edits survive both and distcheck finds nothing left.
config_samples = agent.yml aggregator.yml
logtallyconfdir = $(sysconfdir)/logtally
install-data-local: install-config-samples
uninstall-local: uninstall-config-samples
install-config-samples:
	$(MKDIR_P) '$(DESTDIR)$(logtallyconfdir)'
	@for f in $(config_samples); do \
	  dest='$(DESTDIR)$(logtallyconfdir)'/$$f; \
	  if test -e "$$dest"; then \
	    echo "  KEEP     $$dest (exists; the sample is $(srcdir)/config/$$f)"; \
	  else \
	    echo " $(INSTALL_DATA) $(srcdir)/config/$$f '$$dest'"; \
	    $(INSTALL_DATA) '$(srcdir)'/config/$$f "$$dest" || exit 1; \
	  fi; \
	done
uninstall-config-samples:
	@for f in $(config_samples); do \
	  dest='$(DESTDIR)$(logtallyconfdir)'/$$f; \
	  if test ! -e "$$dest"; then :; \
	  elif cmp -s '$(srcdir)'/config/$$f "$$dest"; then \
	    echo " rm -f '$$dest'"; rm -f "$$dest"; \
	  else \
	    echo "  KEEP     $$dest (edited)"; \
	  fi; \
	done
.PHONY: install-config-samples uninstall-config-samples
