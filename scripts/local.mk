# scripts/: fragment of the top Makefile.am; appends only.
