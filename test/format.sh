#!/usr/bin/env bash
# The C style check: every C source and header of ours (not the vendored
# subprojects/) must be as clang-format leaves it under .clang-format.
#   test/format.sh          check: lists the files that differ, exits 1 if any
#   test/format.sh --fix    rewrites them in place
set -euo pipefail
cd "$(dirname "$0")/.."
command -v clang-format >/dev/null || { echo "clang-format is not installed (deploy/install-deps.sh)"; exit 2; }
fix=false
case "${1:-}" in
  --fix) fix=true ;;
  "") ;;
  *) echo "usage: test/format.sh [--fix]"; exit 2 ;;
esac
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t files < <(git ls-files '*.c' '*.h' | grep -v '^subprojects/')
else
  mapfile -t files < <(find . -name '*.[ch]' -not -path './subprojects/*' -not -path './build*' \
    -not -path '*/node_modules/*' | sed 's|^\./||' | sort)
fi
if $fix; then
  printf '%s\0' "${files[@]}" | xargs -0 -n 50 clang-format -i --style=file
  exit 0
fi
bad=0
for f in "${files[@]}"; do
  if ! clang-format --style=file --dry-run --Werror "$f" >/dev/null 2>&1; then
    echo "needs formatting: $f (test/format.sh --fix)"
    bad=$((bad + 1))
  fi
done
echo "${#files[@]} files checked, $bad need formatting"
[ "$bad" -eq 0 ]
