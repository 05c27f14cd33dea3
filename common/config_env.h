/*
 * config_env: ${VAR} and ${VAR:-default} expansion of configuration scalars
 * from the environment. "$$" stands for a literal "$". An unset variable
 * without a default is an error (an empty default, ${VAR:-}, is allowed), so
 * that a forgotten secret never becomes an empty password silently.
 */
#ifndef LOGTALLY_CONFIG_ENV_H
#define LOGTALLY_CONFIG_ENV_H

#include <stddef.h>

/*
 * Expand in into *out (caller owns it; free with free()). Returns 0, or -1
 * with a message in err and the offset of the faulty "${" in *at; *out is
 * then NULL. Reads the environment with getenv(); not thread-safe against
 * setenv().
 */
int config_env_expand(const char *in, char **out, char *err, size_t errlen,
		      size_t *at);

#endif
