# The egresswatch binary a benchmark measures (sourced by scripts/bench-nab.sh and
# scripts/bench-backfill.sh).
#
#   binary_under_test NAME DIR
#
# Takes ${EGRESSWATCH:-target/release/egresswatch}, falling back to target/debug/egresswatch
# (5-10x slower); only if neither exists is it built (cargo build --release, 10-15 min). The
# binary is copied to DIR/egresswatch, so a rebuild running meanwhile cannot swap it mid-run, and
# a line naming it is printed. Sets BIN (where it came from) and EW (the copy). NAME prefixes the
# messages.
binary_under_test() {
    local name=$1 dir=$2
    BIN=${EGRESSWATCH:-target/release/egresswatch}
    if [ ! -x "$BIN" ]; then
        if [ -z "${EGRESSWATCH:-}" ] && [ -x target/debug/egresswatch ]; then
            BIN=target/debug/egresswatch
        elif [ -z "${EGRESSWATCH:-}" ]; then
            echo "$name: no egresswatch binary; building it (cargo build --release, 10-15 min)" >&2
            cargo build --release --quiet
        else
            echo "$name: EGRESSWATCH=$BIN is not an executable" >&2
            exit 1
        fi
    fi
    cp "$BIN" "$dir/egresswatch"
    EW="$dir/egresswatch"
    echo "binary: $BIN ($("$EW" --version), built $(date -r "$BIN" '+%Y-%m-%d %H:%M'))"
}
