#!/usr/bin/env bash
# The documentation against the programs: docs/configuration.md is what
# scripts/config-reference makes of their key tables today (a key added
# without regenerating it fails here, with the command that fixes it); the
# manual pages render without a warning; the README and docs/ link only to
# files that exist, and nothing points outside the repository. Needs no
# service.
. "$(dirname "$0")/tap.sh"

plan 5
agent=$top_builddir/logtally-agent
aggregator=$top_builddir/logtally-aggregator
ref=$top_srcdir/scripts/config-reference

fresh=$(mktemp)
trap 'rm -f "$fresh"' EXIT
"$ref" --md "$agent" "$aggregator" >"$fresh"
if diff -u "$top_srcdir/docs/configuration.md" "$fresh" >/dev/null; then
	ok "docs/configuration.md is what the key tables say"
else
	not_ok "docs/configuration.md is what the key tables say" \
		"$(diff -u "$top_srcdir/docs/configuration.md" "$fresh" | head -20)
regenerate: scripts/config-reference --md BUILD/logtally-agent BUILD/logtally-aggregator >docs/configuration.md"
fi

# Every key the agent and the aggregator accept has a row.
rows_cover_keys() {
	local missing= key
	for key in $("$agent" --help-config | grep -v '^ ') $("$aggregator" --help-config | grep -v '^ '); do
		grep -qF "| \`$key\` |" "$fresh" || missing="$missing $key"
	done
	[[ -z $missing ]] || { echo "no row for:$missing"; return 1; }
}
check "every key of both programs has a row in the reference" rows_cover_keys

man_clean() {
	local page out
	"$ref" --man agent "$agent" >"$fresh.agent.5"
	"$ref" --man aggregator "$aggregator" >"$fresh.aggregator.5"
	for page in "$top_srcdir"/docs/*.8 "$fresh".*.5; do
		out=$(groff -man -ww -z "$page" 2>&1) || { echo "$page: groff failed"; return 1; }
		[[ -z $out ]] || { echo "$page: $out"; return 1; }
	done
	rm -f "$fresh".*.5
}
if command -v groff >/dev/null; then
	check "the manual pages render without a warning" man_clean
else
	ok "the manual pages render without a warning # SKIP no groff"
fi

# Relative links of README.md and docs/*.md lead to files.
links_resolve() {
	local f link bad=
	for f in "$top_srcdir/README.md" "$top_srcdir"/docs/*.md; do
		while read -r link; do
			link=${link%%#*}
			[[ -z $link || $link == *://* ]] && continue
			[[ -e $(dirname "$f")/$link ]] || bad="$bad $(basename "$f"):$link"
		done < <(grep -o '](\([^)]*\))' "$f" | sed 's/^](//; s/)$//')
	done
	[[ -z $bad ]] || { echo "broken:$bad"; return 1; }
}
check "the links of README.md and docs/ lead to files" links_resolve

# Users get the repository, nothing beside it: no file of it may point to the
# folder beside the checkout that the design and the real logs came from.
nothing_outside() {
	local outside='\.\./'"shared"
	! grep -rIn --exclude-dir=build --exclude-dir=.dev --exclude-dir=.git \
		-e "$outside" "$top_srcdir"
}
check "nothing in the project points outside it (the design is in docs/)" nothing_outside
