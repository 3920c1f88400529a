#!/usr/bin/env bash
# The module layering of ARCHITECTURE.md: a file may include headers of its
# own folder and of folders listed after its own below, never before (so no
# include cycle between folders is possible). Exits 1 listing each violation.
set -euo pipefail
cd "$(dirname "$0")/.."
order=(app cli vault admin hooks protocol identity store crypto core)
rank() { local i; for i in "${!order[@]}"; do [ "${order[$i]}" = "$1" ] && { echo "$i"; return; }; done; echo -1; }
bad=0
for dir in "${order[@]}"; do
  [ -d "$dir" ] || continue
  r=$(rank "$dir")
  while IFS= read -r line; do
    file=${line%%:*}
    target=$(sed -n 's/.*#include "\.\.\/\([a-z_]*\)\/.*/\1/p' <<<"$line")
    [ -n "$target" ] || continue
    t=$(rank "$target")
    if [ "$t" -ge 0 ] && [ "$t" -lt "$r" ]; then
      echo "upward include: $line"
      bad=$((bad + 1))
    fi
  done < <(grep -Hn '#include "\.\./' "$dir"/*.[ch] 2>/dev/null || true)
done
echo "$bad upward includes"
[ "$bad" -eq 0 ]
