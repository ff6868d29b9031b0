# Shared by ops/up and ops/test: the repository root, and a configure-once build.
# shellcheck shell=bash
UL_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
UL_JOBS=${UL_JOBS:-2}

# ul_build DIR TARGET CMAKE_ARGS… — configures DIR only if needed, then builds TARGET.
ul_build() {
    local dir=$1 target=$2
    shift 2
    if [[ ! -f "$dir/build.ninja" ]]; then
        cmake -S "$UL_ROOT" -B "$dir" -G Ninja "$@"
    fi
    cmake --build "$dir" --target "$target" -j "$UL_JOBS"
}
