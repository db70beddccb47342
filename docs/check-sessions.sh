#!/usr/bin/env bash
# Re-runs every terminal session shown in the documentation and compares its output with what the
# documentation shows. Needs bash, awk, sed and diff; no Python.
#
#   docs/check-sessions.sh                  # README.md and docs/*.md
#   docs/check-sessions.sh README.md        # one file
#
# A session is a ```console block. In it, a line that starts with `$ ` is a command; the lines after it,
# up to the next command or the end of the block, are its expected output (stdout and stderr together).
# A line that is exactly `...` stands for any number of output lines (a trimmed table).
# Timings (`time      fused 0.061 ms, explicit 0.082 ms` and the `timing_ms` values of JSON) change
# from run to run and are not compared. Trailing blank lines are not compared. The sessions were
# recorded on x86-64 with AVX-512F and FMA; on a CPU without FMA, absolute figures such as the float64
# errors may differ in their last digits (the two forms still agree bit for bit with each other).
#
# The commands of one file run one after the other in a fresh temporary directory that holds a link
# named `fixtures` to the repository's fixtures, with gru-convert on the PATH, so relative paths work
# as in the repository root and nothing is written into the repository.
# gru-convert is taken from $GRU_CONVERT_BIN (a directory), else .build/release:
#   swift build -c release && docs/check-sessions.sh
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bin=${GRU_CONVERT_BIN:-$root/.build/release}
case $bin in /*) ;; *) bin=$PWD/$bin ;; esac
if [ ! -x "$bin/gru-convert" ]; then
    echo "check-sessions: no gru-convert in $bin (build it: swift build -c release)" >&2
    exit 2
fi
if [ $# -eq 0 ]; then
    set -- "$root/README.md" "$root"/docs/*.md
fi

# The same rewriting on both sides: timings masked, trailing blank lines dropped.
normalize() {
    sed -E -e 's/(time +fused )[0-9.e+-]+ ms, explicit [0-9.e+-]+ ms/\1# ms, explicit # ms/' \
           -e 's/^( *"(fused|explicit)" : )[0-9.e+-]+(,?)$/\1#\3/' "$1" |
        awk '{ lines[NR] = $0 } END { n = NR; while (n > 0 && lines[n] == "") n--; for (i = 1; i <= n; i++) print lines[i] }'
}

# Exit 0 when ACTUAL matches EXPECTED, where an EXPECTED line `...` matches any run of lines
# (up to the first line equal to the one after it).
matches() {
    awk -v expected="$1" -v actual="$2" '
        BEGIN {
            while ((getline line < expected) > 0) e[++ne] = line
            while ((getline line < actual) > 0) a[++na] = line
            i = 1; j = 1
            while (i <= ne) {
                if (e[i] == "...") {
                    if (i == ne) exit 0
                    while (j <= na && a[j] != e[i + 1]) j++
                    if (j > na) exit 1
                    i++
                    continue
                }
                if (j > na || a[j] != e[i]) exit 1
                i++; j++
            }
            exit (j <= na) ? 1 : 0
        }'
}

failures=0
commands=0
for file in "$@"; do
    work=$(mktemp -d "${TMPDIR:-/tmp}/check-sessions.XXXXXX")
    ln -s "$root/fixtures" "$work/fixtures"
    # Split the file into commands and expected outputs: cmd.N and expected.N in $work/.sessions.
    mkdir "$work/.sessions"
    awk -v out="$work/.sessions" '
        /^```console[ \t]*$/ { inside = 1; next }
        inside && /^```[ \t]*$/ { inside = 0; next }
        inside && /^\$ / {
            n++
            print substr($0, 3) > (out "/cmd." n); close(out "/cmd." n)
            printf "" > (out "/expected." n); close(out "/expected." n)
            printf "%d\n", NR > (out "/line." n); close(out "/line." n)
            next
        }
        inside && n > 0 { print >> (out "/expected." n); close(out "/expected." n) }
        END { print n + 0 > (out "/count") }
    ' "$file"
    count=$(cat "$work/.sessions/count")
    for ((n = 1; n <= count; n++)); do
        command=$(cat "$work/.sessions/cmd.$n")
        line=$(cat "$work/.sessions/line.$n")
        (cd "$work" && PATH="$bin:$PATH" bash -c "$command") > "$work/.sessions/actual.$n" 2>&1 < /dev/null
        normalize "$work/.sessions/expected.$n" > "$work/.sessions/e.$n"
        normalize "$work/.sessions/actual.$n" > "$work/.sessions/a.$n"
        commands=$((commands + 1))
        if ! matches "$work/.sessions/e.$n" "$work/.sessions/a.$n"; then
            failures=$((failures + 1))
            echo "FAIL ${file#"$root"/}:$line: \$ $command"
            diff -u --label documented --label actual "$work/.sessions/e.$n" "$work/.sessions/a.$n" | sed 's/^/    /'
        fi
    done
    echo "${file#"$root"/}: $count commands"
    rm -rf "$work"
done
if [ "$failures" -eq 0 ]; then
    echo "all $commands commands give the documented output"
else
    echo "$failures of $commands commands differ from the documentation"
    exit 1
fi
