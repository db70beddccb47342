#!/usr/bin/env bash
# Builds the libFuzzer harness (fuzz/harness, a package of its own that depends on this one by path) with
# AddressSanitizer and coverage over the harness and every library target, links libFuzzer's driver, and
# runs it for SECONDS (default 600) seeded with every fixture (TensorFlow, Keras and PyTorch-made files of
# both GRU families, their mistakes, the hostile files), fuzz/seeds/ (fixture cells with their reference
# runs in the same file, so that verification against reference runs is reached) and every committed
# regression. GRU_FUZZ_TRACE=1 .build-fuzz/debug/gru-fuzz FILE... says what the harness did with each file.
# It runs in libFuzzer's fork mode and goes on after a crash: crashing, hanging or out-of-memory inputs
# land in fuzz/findings/ (copy the ones worth keeping to fuzz/regressions/, where a test runs each through
# the command line); the growing corpus stays in fuzz/corpus/ (not committed). The build goes to
# .build-fuzz/ at the top of the repository (ignored by git).
#   fuzz/run.sh 3600
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
libfuzzer=$(ls /opt/swift/usr/lib/clang/*/lib/linux/libclang_rt.fuzzer_no_main-x86_64.a 2>/dev/null | head -1 || true)
[ -n "$libfuzzer" ] || libfuzzer=$(ls "$(dirname "$(dirname "$(command -v swiftc)")")"/lib/clang/*/lib/linux/libclang_rt.fuzzer_no_main-"$(uname -m)".a | head -1)
swift build --package-path fuzz/harness --scratch-path .build-fuzz --product gru-fuzz \
    -Xswiftc -sanitize=address -Xswiftc -sanitize-coverage=edge,inline-8bit-counters,pc-table,trace-cmp \
    -Xcc -fsanitize=address -Xcc -fsanitize=fuzzer-no-link \
    -Xlinker "$libfuzzer" -Xlinker --undefined=LLVMFuzzerRunDriver -Xlinker --export-dynamic -Xlinker -lstdc++
mkdir -p fuzz/corpus fuzz/findings
# Seeds, each under a name that says where it came from (two folders may hold files of the same name).
seed() {
    local prefix=$1; shift
    for file in "$@"; do
        [ -f "$file" ] || continue
        cp -n "$file" "fuzz/corpus/$prefix-$(basename "$file")" 2>/dev/null || true   # kept from an earlier run
    done
}
seed tf fixtures/*.h5
seed tf-mistakes fixtures/mistakes/*.h5
seed bad fixtures/bad/*
seed keras fixtures/keras/*.h5
seed keras-mistakes fixtures/keras/mistakes/*.h5
seed with-reference fuzz/seeds/*.h5     # cells and their reference runs in one file (fuzz/seeds/make_seeds.py)
cp -n fuzz/regressions/* fuzz/corpus/ 2>/dev/null || true
ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1 \
    .build-fuzz/debug/gru-fuzz fuzz/corpus -max_total_time="$seconds" -max_len=65536 -timeout=20 -rss_limit_mb=2048 \
    -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 -artifact_prefix=fuzz/findings/ -print_final_stats=1
