/*
 * config_env: environment expansion for configuration scalars. The grammar
 * is shell-like but small: ${NAME}, ${NAME:-default} (default taken
 * literally, no nesting) and $$. A '$' followed by anything else is kept.
 */
#include "config_env.h"

#include "buf.h"
#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONFIG_ENV_MAX (1u << 20)     /* longest expanded scalar */

static size_t config_env_name_len(const char *s)
{
	size_t n = 0;

	if (!(s[0] == '_' || (s[0] >= 'A' && s[0] <= 'Z') ||
	      (s[0] >= 'a' && s[0] <= 'z')))
		return 0;
	while (s[n] == '_' || (s[n] >= 'A' && s[n] <= 'Z') ||
	       (s[n] >= 'a' && s[n] <= 'z') || (s[n] >= '0' && s[n] <= '9'))
		n++;
	return n;
}

/*
 * Expand the reference at in[0] == '$', in[1] == '{'. Returns the number
 * of bytes consumed, or 0 with a message in err.
 */
static size_t config_env_ref(const char *in, struct buf *out, int *full,
			     char *err, size_t errlen)
{
	size_t name_len = config_env_name_len(in + 2);
	const char *after = in + 2 + name_len;
	const char *close, *value;
	char *name;

	if (name_len == 0) {
		snprintf(err, errlen, "'${' must be followed by a variable name");
		return 0;
	}
	if (*after != '}' && strncmp(after, ":-", 2) != 0) {
		snprintf(err, errlen, "unterminated '${%.*s' (expected '}' or ':-')",
			 (int)name_len, in + 2);
		return 0;
	}
	close = strchr(after, '}');
	if (!close) {
		snprintf(err, errlen, "unterminated '${%.*s' (missing '}')",
			 (int)name_len, in + 2);
		return 0;
	}
	name = xstrndup(in + 2, name_len);
	value = getenv(name);
	if (!value && *after == '}') {
		snprintf(err, errlen,
			 "environment variable %s is not set (write ${%s:-default} for a default)",
			 name, name);
		free(name);
		return 0;
	}
	free(name);
	if (value)
		*full |= buf_addstr(out, value) < 0;
	else
		*full |= buf_add(out, after + 2, (size_t)(close - after - 2)) < 0;
	return (size_t)(close - in) + 1;
}

int config_env_expand(const char *in, char **out, char *err, size_t errlen,
		      size_t *at)
{
	struct buf b;
	size_t i = 0;
	int full = 0;

	*out = NULL;
	buf_init(&b, CONFIG_ENV_MAX);
	while (in[i]) {
		size_t used = 1;

		if (in[i] == '$' && in[i + 1] == '$') {
			full |= buf_addc(&b, '$') < 0;
			used = 2;
		} else if (in[i] == '$' && in[i + 1] == '{') {
			used = config_env_ref(in + i, &b, &full, err, errlen);
			if (used == 0) {
				*at = i;
				buf_fini(&b);
				return -1;
			}
		} else {
			full |= buf_addc(&b, in[i]) < 0;
		}
		i += used;
	}
	if (full) {
		snprintf(err, errlen, "value longer than %u bytes after expansion",
			 CONFIG_ENV_MAX);
		*at = 0;
		buf_fini(&b);
		return -1;
	}
	*out = buf_take(&b, NULL);
	return 0;
}
