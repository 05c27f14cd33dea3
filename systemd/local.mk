# systemd/: the two programs' system units. make fills the install paths
# into the *.service.in templates (configure's @bindir@ would still read
# ${exec_prefix}/bin); make install puts them in systemdsystemunitdir, which
# configure asks pkg-config for (--with-systemdsystemunitdir=no: none).
systemd_units = \
	systemd/logtally-agent.service \
	systemd/logtally-aggregator.service
EXTRA_DIST += \
	systemd/logtally-agent.service.in \
	systemd/logtally-aggregator.service.in
CLEANFILES += $(systemd_units)
if SYSTEMD_UNITS
systemdsystemunit_DATA += $(systemd_units)
endif
# distcheck installs as a user under a private prefix: the units go there
# too, not in the system's /lib/systemd/system.
AM_DISTCHECK_CONFIGURE_FLAGS += \
	--with-systemdsystemunitdir='$$(prefix)/lib/systemd/system'

systemd_edit = $(SED) \
	-e 's|@bindir[@]|$(bindir)|g' \
	-e 's|@sysconfdir[@]|$(sysconfdir)|g'
systemd/logtally-agent.service: $(srcdir)/systemd/logtally-agent.service.in Makefile
	$(AM_V_GEN)$(MKDIR_P) systemd && \
	$(systemd_edit) $(srcdir)/systemd/logtally-agent.service.in >$@.tmp && mv $@.tmp $@
systemd/logtally-aggregator.service: $(srcdir)/systemd/logtally-aggregator.service.in Makefile
	$(AM_V_GEN)$(MKDIR_P) systemd && \
	$(systemd_edit) $(srcdir)/systemd/logtally-aggregator.service.in >$@.tmp && mv $@.tmp $@
