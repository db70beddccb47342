#!/usr/bin/env bash
# Builds the libFuzzer harness (Sources/gru-fuzz) with AddressSanitizer and coverage, links libFuzzer's
# driver, and runs it for SECONDS (default 600) seeded with every fixture and every committed regression.
# It runs in libFuzzer's fork mode and goes on after a crash: crashing, hanging or out-of-memory inputs
# land in fuzz/findings/ (copy the ones worth keeping to fuzz/regressions/, where a test runs each through
# the command line); the growing corpus stays in fuzz/corpus/ (not committed).
#   fuzz/run.sh 3600
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
libfuzzer=$(ls /opt/swift/usr/lib/clang/*/lib/linux/libclang_rt.fuzzer_no_main-x86_64.a 2>/dev/null | head -1)
[ -n "$libfuzzer" ] || libfuzzer=$(dirname "$(dirname "$(command -v swiftc)")")/lib/clang/*/lib/linux/libclang_rt.fuzzer_no_main-$(uname -m).a
swift build --scratch-path .build-fuzz --product gru-fuzz \
    -Xswiftc -sanitize=address -Xswiftc -sanitize-coverage=edge,inline-8bit-counters,pc-table,trace-cmp \
    -Xcc -fsanitize=address -Xcc -fsanitize=fuzzer-no-link \
    -Xlinker $libfuzzer -Xlinker --undefined=LLVMFuzzerRunDriver -Xlinker --export-dynamic -Xlinker -lstdc++
mkdir -p fuzz/corpus fuzz/findings
cp -n fixtures/*.h5 fixtures/mistakes/*.h5 fixtures/bad/*.h5 fuzz/corpus/ 2>/dev/null || true
cp -n fuzz/regressions/* fuzz/corpus/ 2>/dev/null || true
ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1 \
    .build-fuzz/debug/gru-fuzz fuzz/corpus -max_total_time="$seconds" -max_len=65536 -timeout=20 -rss_limit_mb=2048 \
    -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 -artifact_prefix=fuzz/findings/ -print_final_stats=1
