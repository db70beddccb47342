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
#
# `fuzz/run.sh SECONDS safetensors` fuzzes the safetensors reader (gru-fuzz-safetensors: each input is one
# file), seeded with the PyTorch-made fixtures (fixtures/frameworks/*.safetensors) and fuzz/safetensors-seeds/;
# findings go to fuzz/findings-safetensors/ (copy those worth keeping to fuzz/safetensors-regressions/).
#
# `fuzz/run.sh SECONDS keras` fuzzes the Keras archive reader (gru-fuzz-keras: each input is one `.keras` zip,
# its weights member opened from memory, its config applied), seeded with fixtures/frameworks/*.keras and
# fuzz/keras-seeds/; findings go to fuzz/findings-keras/ (keep those worth keeping in fuzz/keras-regressions/).
#
# `fuzz/run.sh SECONDS checkpoint` fuzzes the TensorFlow checkpoint reader instead (gru-fuzz-checkpoint:
# each input becomes PREFIX.index, data shards and optionally a `checkpoint` state file; the layout is in
# its main.swift), seeded with every fixture checkpoint (fuzz/checkpoint-seeds/, made by its make_seeds.py)
# and every committed checkpoint regression (fuzz/checkpoint-regressions/*/, one checkpoint per folder,
# turned back into the input layout). Its corpus is fuzz/corpus-checkpoint/ and its findings go to
# fuzz/findings-checkpoint/ (neither committed); make_seeds.py --from-finding turns a finding into a
# checkpoint folder for fuzz/checkpoint-regressions/.
# `fuzz/run.sh SECONDS onnx` fuzzes the ONNX reader and writer (gru-fuzz-onnx: each input is one model file, beside
# two fixed external data files), seeded with the framework-made models (fixtures/frameworks/*.onnx) and the small
# crafted models of fuzz/onnx-seeds/ (made by its make_seeds.py); findings go to fuzz/findings-onnx/ (copy those
# worth keeping to fuzz/onnx-regressions/).
# `fuzz/run.sh SECONDS torch` fuzzes the torch.save reader (gru-fuzz-torch: each input is one `.pt` file, zip or
# legacy, through the pickle machine), seeded with fixtures/torchsave/*.pt and *.tar (torch-made and hostile) and
# fuzz/torch-regressions/; findings go to fuzz/findings-torch/ (copy those worth keeping to fuzz/torch-regressions/).
#   fuzz/run.sh 3600
#   fuzz/run.sh 3600 checkpoint
#   GRU_FUZZ_TRACE=1 SWIFT_BACKTRACE=enable=no .build-fuzz/debug/gru-fuzz-checkpoint FILE...   # replay inputs
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
target=${2:-hdf5}
case "$target" in
    hdf5) product=gru-fuzz corpus=fuzz/corpus findings=fuzz/findings ;;
    checkpoint) product=gru-fuzz-checkpoint corpus=fuzz/corpus-checkpoint findings=fuzz/findings-checkpoint ;;
    safetensors) product=gru-fuzz-safetensors corpus=fuzz/corpus-safetensors findings=fuzz/findings-safetensors ;;
    keras) product=gru-fuzz-keras corpus=fuzz/corpus-keras findings=fuzz/findings-keras ;;
    onnx) product=gru-fuzz-onnx corpus=fuzz/corpus-onnx findings=fuzz/findings-onnx ;;
    torch) product=gru-fuzz-torch corpus=fuzz/corpus-torch findings=fuzz/findings-torch ;;
    *) echo "usage: fuzz/run.sh [SECONDS] [hdf5|checkpoint|safetensors|onnx|keras|torch]" >&2; exit 2 ;;
esac
libfuzzer=$(ls /opt/swift/usr/lib/clang/*/lib/linux/libclang_rt.fuzzer_no_main-x86_64.a 2>/dev/null | head -1 || true)
[ -n "$libfuzzer" ] || libfuzzer=$(ls "$(dirname "$(dirname "$(command -v swiftc)")")"/lib/clang/*/lib/linux/libclang_rt.fuzzer_no_main-"$(uname -m)".a | head -1)
swift build --package-path fuzz/harness --scratch-path .build-fuzz --product "$product" \
    -Xswiftc -sanitize=address -Xswiftc -sanitize-coverage=edge,inline-8bit-counters,pc-table,trace-cmp \
    -Xcc -fsanitize=address -Xcc -fsanitize=fuzzer-no-link \
    -Xlinker "$libfuzzer" -Xlinker --undefined=LLVMFuzzerRunDriver -Xlinker --export-dynamic -Xlinker -lstdc++
mkdir -p "$corpus" "$findings"
# Seeds, each under a name that says where it came from (two folders may hold files of the same name).
seed() {
    local prefix=$1; shift
    for file in "$@"; do
        [ -f "$file" ] || continue
        cp -n "$file" "$corpus/$prefix-$(basename "$file")" 2>/dev/null || true   # kept from an earlier run
    done
}
if [ "$target" = hdf5 ]; then
    seed tf fixtures/*.h5
    seed tf-mistakes fixtures/mistakes/*.h5
    seed bad fixtures/bad/*
    seed keras fixtures/keras/*.h5
    seed keras-mistakes fixtures/keras/mistakes/*.h5
    seed with-reference fuzz/seeds/*.h5     # cells and their reference runs in one file (fuzz/seeds/make_seeds.py)
    seed compressed fixtures/compressed/*.h5   # LZF chunks, through the tool's own decoder (CHDF5/shim.h)
    seed structure fixtures/structure/*.h5     # every kind of HDF5 object: links, datatypes, references
    cp -n fuzz/regressions/* "$corpus"/ 2>/dev/null || true
elif [ "$target" = keras ]; then
    seed keras fixtures/frameworks/*.keras fuzz/keras-seeds/*
    cp -n fuzz/keras-regressions/* "$corpus"/ 2>/dev/null || true
elif [ "$target" = safetensors ]; then
    seed safetensors fixtures/frameworks/*.safetensors fuzz/safetensors-seeds/*
    cp -n fuzz/safetensors-regressions/* "$corpus"/ 2>/dev/null || true
elif [ "$target" = torch ]; then
    seed torch fixtures/torchsave/*.pt fixtures/torchsave/*.tar
    cp -n fuzz/torch-regressions/* "$corpus"/ 2>/dev/null || true
elif [ "$target" = onnx ]; then
    seed onnx fixtures/frameworks/*.onnx fuzz/onnx-seeds/*.onnx
    cp -n fuzz/onnx-regressions/* "$corpus"/ 2>/dev/null || true
else
    seed checkpoint fuzz/checkpoint-seeds/*.bin   # every fixture checkpoint (fuzz/checkpoint-seeds/make_seeds.py)
    for folder in fuzz/checkpoint-regressions/*/; do
        [ -d "$folder" ] || continue
        python3 fuzz/checkpoint-seeds/make_seeds.py --one "$folder" "$corpus/regression-$(basename "$folder")"
    done
fi
# Swift's own crash backtracer off: under AddressSanitizer it reports itself (memserver_read) instead of
# the trap; without it libFuzzer prints the trap's stack.
SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1 \
    .build-fuzz/debug/"$product" "$corpus" -max_total_time="$seconds" -max_len=65536 -timeout=20 -rss_limit_mb=2048 \
    -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 -artifact_prefix="$findings"/ -print_final_stats=1
