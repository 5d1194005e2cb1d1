#!/usr/bin/env bash
# Formatting check: every tracked C++ source is clang-format clean under the repository's
# .clang-format (clang-format 14, Debian 12). Fix with:
#   git ls-files '*.hpp' '*.cpp' | xargs clang-format -i
# (compares clang-format's output with the file: clang-format 14's --dry-run reports a no-op
# replacement on `namespace a::inline MACRO` closing comments)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
mapfile -t files < <(git ls-files '*.hpp' '*.cpp' '*.h')
bad=0
for f in "${files[@]}"; do
    if ! clang-format --style=file "$f" | cmp -s - "$f"; then
        echo "format.sh: $f is not clang-format clean" >&2
        bad=$((bad + 1))
    fi
done
if [ "$bad" -ne 0 ]; then
    echo "format.sh: $bad of ${#files[@]} files need clang-format" >&2
    exit 1
fi
echo "format.sh: ${#files[@]} files clang-format clean"
