#!/usr/bin/env bash
# One bounded libFuzzer run: run.sh <target> <seed corpus dir> <work dir>.
# New inputs go to <work dir>/corpus, never into the repository's seeds; a
# crash is saved as <work dir>/crash-* and fails the run. SHARK_FUZZ_SECONDS
# (default 30) bounds the run; SHARK_FUZZ_ARGS adds libFuzzer flags.
set -euo pipefail
target=$1 seeds=$2 work=$3
mkdir -p "$work/corpus"
# -timeout: one input taking longer is a hang, reported as a failure.
# -error_exitcode: libFuzzer's default, 77, is what meson reads as a skip.
# -max_len: requests, tokens and documents of interest fit; larger ones only
# grow the corpus. -print_final_stats shows executions for the log.
exec "$target" -max_total_time="${SHARK_FUZZ_SECONDS:-30}" -timeout=10 -max_len=8192 \
  -error_exitcode=1 -timeout_exitcode=1 \
  -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$work/" \
  ${SHARK_FUZZ_ARGS:-} "$work/corpus" "$seeds"
