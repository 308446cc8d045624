#!/usr/bin/env bash
# Records the detector's capture set for one CC version into tests/fixtures/screens/cc-<version>-<renderer>/
# with scripts/record-captures.sh: every walk at 80x24 and 120x40 in both renderers (LANE=main), and the
# named-session walks (LANE=named). Run the two lanes in parallel at most (one CC process each):
#   scripts/record-capture-set.sh 2.1.332 main & scripts/record-capture-set.sh 2.1.332 named; wait
# WALKS="main plan" limits LANE=main to some walks. Review every new capture and its snapshot before committing (cargo insta review).
set -uo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
version=$1 lane=$2
renderers=$(awk -v v="$version" '$1 == v {$1 = ""; print}' "$here/cc-versions")
names=("impl=impl-#123" "review=review PR 456" "tache=tâche-é" "long=refactor-the-session-manager-for-issue-4")
fail=0
for r in $renderers; do
  dir="$here/tests/fixtures/screens/cc-$version"
  [ "$(echo "$renderers" | wc -w)" -gt 1 ] && dir="$dir-$r"
  for size in 80x24 120x40; do
    if [ "$lane" = main ]; then
      for walk in ${WALKS:-main plan trust apikey}; do
        "$here/scripts/record-captures.sh" "$version" "$r" "$size" "$walk" "$dir" || fail=1
      done
    else
      for n in "${names[@]}"; do
        CAPTURE_PREFIX="named-${n%%=*}-" "$here/scripts/record-captures.sh" "$version" "$r" "$size" named "${n#*=}" "$dir" || fail=1
      done
    fi
  done
done
exit $fail
