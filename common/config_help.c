/*
 * config_help: the self-documenting side of the key tables: a walk over
 * every key with its dotted name (for tests that compare the tables with
 * the sample files) and the --help-config text built from that walk.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "units.h"

static void config_walk(const struct config_section *section, char *prefix,
			size_t len, size_t cap,
			void (*fn)(const char *, const struct config_key *, void *),
			void *arg)
{
	for (const struct config_key *key = section->keys; key->name; key++) {
		snprintf(prefix + len, cap - len, "%s%s", len ? "." : "", key->name);
		fn(prefix, key, arg);
		if (key->type == CONFIG_SECTION || key->type == CONFIG_SECTIONS ||
		    key->type == CONFIG_SECTION_MAP) {
			size_t sub = strlen(prefix);

			if (key->type == CONFIG_SECTIONS)
				snprintf(prefix + sub, cap - sub, "[]");
			if (key->type == CONFIG_SECTION_MAP)
				snprintf(prefix + sub, cap - sub, ".*");
			config_walk(key->section, prefix, strlen(prefix), cap, fn, arg);
		}
		prefix[len] = '\0';
	}
}

void config_each_key(const struct config_section *root,
		     void (*fn)(const char *name, const struct config_key *key,
				void *arg),
		     void *arg)
{
	char prefix[256] = "";

	config_walk(root, prefix, 0, sizeof(prefix), fn, arg);
}

static void config_type_name(const struct config_key *key, char *out, size_t len)
{
	static const char *const names[] = {
		[CONFIG_STRING] = "string", [CONFIG_BOOL] = "bool",
		[CONFIG_INT] = "integer", [CONFIG_DURATION] = "duration",
		[CONFIG_SIZE] = "size", [CONFIG_ENUM] = "enum",
		[CONFIG_STRINGS] = "list of strings",
		[CONFIG_DURATIONS] = "list of durations",
		[CONFIG_MAP] = "mapping", [CONFIG_DURATION_MAP] = "duration: duration",
		[CONFIG_SECTION] = "section", [CONFIG_SECTIONS] = "list of sections",
		[CONFIG_SECTION_MAP] = "mapping of sections",
	};
	size_t used;

	if (key->type != CONFIG_ENUM) {
		snprintf(out, len, "%s", names[key->type]);
		return;
	}
	used = (size_t)snprintf(out, len, "one of ");
	for (int i = 0; key->choices[i] && used < len; i++)
		used += (size_t)snprintf(out + used, len - used, "%s%s",
					 i ? "|" : "", key->choices[i]);
}

/* Bounds in the key's own unit, e.g. "1..100000" or "1s..1h". */
static void config_bounds(const struct config_key *key, char *out, size_t len)
{
	char lo[32], hi[32];

	out[0] = '\0';
	if (!key->min && !key->max)
		return;
	if (key->type == CONFIG_DURATION) {
		units_format_duration(key->min, lo, sizeof(lo));
		units_format_duration(key->max, hi, sizeof(hi));
	} else if (key->type == CONFIG_SIZE) {
		units_format_size((uint64_t)key->min, lo, sizeof(lo));
		units_format_size((uint64_t)key->max, hi, sizeof(hi));
	} else if (key->type == CONFIG_INT) {
		snprintf(lo, sizeof(lo), "%lld", (long long)key->min);
		snprintf(hi, sizeof(hi), "%lld", (long long)key->max);
	} else {
		return;
	}
	snprintf(out, len, ", %s..%s", lo, hi);
}

static void config_help_key(const char *name, const struct config_key *key,
			    void *arg)
{
	FILE *out = arg;
	char type[160], bounds[80];

	config_type_name(key, type, sizeof(type));
	config_bounds(key, bounds, sizeof(bounds));
	fprintf(out, "%s\n    %s%s%s%s%s\n    %s\n", name, type, bounds,
		key->flags & CONFIG_REQUIRED ? "; required" : "",
		key->def ? "; default: " : "", key->def ? key->def : "", key->help);
}

void config_help(const struct config_section *root, FILE *out)
{
	config_each_key(root, config_help_key, out);
}
