#!/usr/bin/env bash
# Fuzzes each target of fuzz/ for a bounded time (default 60 s each) with cargo-fuzz
# (libFuzzer), starting from fuzz/seeds/<target>/ (committed; `cargo test` replays
# them) and growing fuzz/corpus/<target>/ (not committed). A finding, once fixed, goes
# into the seeds.
#   scripts/fuzz.sh [SECONDS] [TARGET...]
# Needs `cargo install cargo-fuzz`. cargo-fuzz passes nightly-only flags to rustc;
# this machine has one stable toolchain, so RUSTC_BOOTSTRAP=1 lets it accept them.
# The sanitizer is off (`-s none`): the code fuzzed is safe Rust, and the
# AddressSanitizer runtime needs a nightly std.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
secs=${1:-60}
shift || true
targets=${*:-$(cargo fuzz list)}
for t in $targets; do
    echo "== $t: ${secs}s"
    # A finding stops the run with libFuzzer's report and the input under artifacts/.
    mkdir -p "corpus/$t"
    RUSTC_BOOTSTRAP=1 cargo fuzz run -s none "$t" "corpus/$t" "seeds/$t" -- \
        -max_total_time="$secs" -print_final_stats=1 2>&1 | tail -n 20
done
