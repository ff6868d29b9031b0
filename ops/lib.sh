# Shared by ops/up and ops/test: the repository root, and a configure-once build.
# shellcheck shell=bash
UL_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
UL_JOBS=${UL_JOBS:-2}
# ccache (when installed): paths relative to the checkout, so a fresh clone hits the cache.
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$UL_ROOT}
export CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-true}

# ul_build DIR TARGET CMAKE_ARGS… — configures DIR only if needed, then builds TARGET.
ul_build() {
    local dir=$1 target=$2
    shift 2
    if [[ ! -f "$dir/build.ninja" ]]; then
        local launcher=()
        if command -v ccache >/dev/null 2>&1; then  # rebuilds and other checkouts reuse objects
            launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
        fi
        cmake -S "$UL_ROOT" -B "$dir" -G Ninja "${launcher[@]}" "$@"
    fi
    cmake --build "$dir" --target "$target" -j "$UL_JOBS"
}
