# test/support/: fragment of the top Makefile.am; appends only.
