#!/usr/bin/env bash
# agent_model.sh: the model-based rotation test (test/model/model_rotation)
# with the real logtally-agent binary instead of its modules: kill -9 and
# SIGTERM for real, inotify or polling (every other seed), each job of seeds
# against a logtally-devbroker of its own that the test takes down and up.
# The agent's steps are its own, so a seed replays the operations, not their
# timing; a catch-up waits until every whole line of a followed file is in
# the topic. LOGTALLY_MODEL_PROCESS_SEEDS sets how many seeds (60).
set -u
# shellcheck source=tap.sh
. "$(dirname "$0")/tap.sh"
# shellcheck source=agent_lib.sh
. "$(dirname "$0")/agent_lib.sh"

plan 1
[ -x "$AGENT" ] && [ -x "$DEVBROKER" ] || bail_out "build first: $AGENT or $DEVBROKER is missing"
MODEL=$top_builddir/test/model/model_rotation
[ -x "$MODEL" ] || bail_out "build first: $MODEL is missing (make check builds it)"

seeds=${LOGTALLY_MODEL_PROCESS_SEEDS:-60}
"$MODEL" --agent "$AGENT" --devbroker "$DEVBROKER" --seeds "$seeds" --jobs 12 \
	--first "${LOGTALLY_MODEL_FIRST:-1}" >"$TAP_TMP/model.out" 2>"$TAP_TMP/model.err"
rc=$?
result=$(grep -E '^(not )?ok 1 ' "$TAP_TMP/model.out")
if [ $rc -eq 0 ] && [[ $result == "ok 1 "* ]]; then
	ok "the real agent: ${result#ok 1 - }"
else
	not_ok "the real agent: ${result#not ok 1 - }" \
		"$(grep -v -E '^(1\.\.1|(not )?ok 1 )' "$TAP_TMP/model.out" | head -n 300)
$(tail -n 20 "$TAP_TMP/model.err")"
fi
