#!/usr/bin/env bash
# Install footprint of nature-callback: the core distribution and the "demo" extra.
#
# For each target, a fresh virtual environment under /tmp (python3 -m venv), then
# `pip install <target>`; prints the number of installed distributions beyond those of an
# empty venv (pip, setuptools) and the size of site-packages (du -sm), less the empty venv's.
# The venvs are deleted at the end. pip's usual index, cache and constraints apply.
#
#     bash benchmarks/install_footprint.sh                 # this checkout
#     PYTHON=python3.12 bash benchmarks/install_footprint.sh /path/to/checkout
set -euo pipefail

project=$(cd "${1:-$(dirname "$0")/..}" && pwd)
python=${PYTHON:-python3}
work=$(mktemp -d /tmp/nature-footprint.XXXXXX)
trap 'rm -rf "$work"' EXIT

site_packages() {  # the venv's site-packages folder
    "$1/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'
}

measure() {  # name target: prints "distributions MB"
    local venv="$work/$1"
    "$python" -m venv "$venv"
    if [[ -n "$2" ]]; then
        "$venv/bin/pip" install --quiet "$2" >"$work/$1.log" 2>&1 \
            || { cat "$work/$1.log" >&2; exit 1; }
    fi
    local count size
    count=$("$venv/bin/pip" list --format=freeze 2>/dev/null | wc -l)
    size=$(du -sm "$(site_packages "$venv")" | cut -f1)
    echo "$count $size"
}

read -r base_count base_mb < <(measure empty "")
read -r core_count core_mb < <(measure core "$project")
read -r demo_count demo_mb < <(measure demo "$project[demo]")

echo "$("$python" --version), pip $("$work/empty/bin/pip" --version | cut -d' ' -f2);" \
     "empty venv: $base_count distributions, $base_mb MB (subtracted below)"
printf '%-32s %14s %18s\n' "install" "distributions" "site-packages (MB)"
printf '%-32s %14d %18d\n' "pip install ." $((core_count - base_count)) $((core_mb - base_mb))
printf '%-32s %14d %18d\n' 'pip install ".[demo]"' $((demo_count - base_count)) \
    $((demo_mb - base_mb))
echo "torch in [demo]: $("$work/demo/bin/pip" list --format=freeze 2>/dev/null | grep -i '^torch==' || echo none)"
