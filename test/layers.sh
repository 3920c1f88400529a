#!/usr/bin/env bash
# The module layering of ARCHITECTURE.md: a file may include headers of its
# own folder and of folders listed after its own below, never before (so no
# include cycle between folders is possible); and no PGresult read outside
# store/ (typed rows). Exits 1 listing each violation.
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

# libpq stays inside store/: no header of store/ that a file outside it
# includes may pull in libpq-fe.h (directly or through other store/ headers;
# store.h declares the PGresult it mentions itself), no file outside store/
# includes libpq-fe.h, and none calls a libpq function: results are read
# through the typed rows of store/rows*.h and store/page.h.
libpq_bad=0
outside=()
for dir in "${order[@]}"; do
  [ "$dir" != store ] && [ -d "$dir" ] && outside+=("$dir"/*.[ch])
done
# pulls_libpq <store header>: true when it or a store/ header it includes
# (transitively) includes libpq-fe.h; prints the chain that does.
pulls_libpq() {
  local h=$1 seen=$2 inc
  [ -f "store/$h" ] || return 1
  case " $seen " in *" $h "*) return 1 ;; esac
  if grep -q '^#include <libpq-fe.h>' "store/$h"; then echo "store/$h"; return 0; fi
  for inc in $(sed -n 's/^#include "\([a-z_0-9]*\.h\)".*/\1/p' "store/$h"); do
    if pulls_libpq "$inc" "$seen $h" >/dev/null; then
      echo "store/$h -> $(pulls_libpq "$inc" "$seen $h")"; return 0
    fi
  done
  return 1
}
for h in $(grep -ho '#include "\.\./store/[a-z_0-9]*\.h"' "${outside[@]}" 2>/dev/null |
             sed 's|.*/store/||; s|"||' | sort -u); do
  if chain=$(pulls_libpq "$h" ""); then
    echo "store header included outside store/ pulls in libpq-fe.h: $chain"
    libpq_bad=$((libpq_bad + 1))
  fi
done
for f in $(grep -l '^#include <libpq-fe.h>' "${outside[@]}" 2>/dev/null || true); do
  echo "libpq-fe.h included outside store/: $f (read results through store/rows*.h)"
  libpq_bad=$((libpq_bad + 1))
done
echo "$libpq_bad libpq includes outside store/"

# file:function:line of each libpq call outside store/, the function being
# the top-level definition the line is in.
reads=0
while IFS= read -r hit; do
  echo "libpq call outside store/: $hit"
  reads=$((reads + 1))
done < <(awk '
  FNR == 1 { fn = "" }
  /^[A-Za-z_][A-Za-z0-9_ \t*]*\(/ { s = $0; sub(/\(.*/, "", s); n = split(s, w, /[ \t*]+/); fn = w[n] }
  /(^|[^A-Za-z0-9_])PQ[a-zA-Z]+\(/ { print FILENAME ":" fn ":" FNR }
' "${outside[@]}")
echo "$reads libpq calls outside store/"
[ "$bad" -eq 0 ] && [ "$libpq_bad" -eq 0 ] && [ "$reads" -eq 0 ]
