#!/usr/bin/env bash
# Packs the benchmark's outside tools (wrk, nginx, strace, taskset) with every shared library
# they load, so that make bench runs on a machine that reaches no package registry:
#
#   scripts/pack_bench_tools.sh build/bench-tools      # make bench-tools; then carry the folder
#
# Each tool becomes DIR/bin/NAME, a wrapper that starts the copied binary with the copied dynamic
# loader and libraries (the other machine's own libc is never mixed in), and make bench puts
# DIR/bin first on PATH when DIR exists. The servers under test are this repository's binaries;
# build them on the other machine or carry the build folder with them.
set -euo pipefail

out=${1:?usage: scripts/pack_bench_tools.sh DIR}
tools=(wrk nginx strace taskset)

rm -rf "$out"
mkdir -p "$out/bin" "$out/lib"
for tool in "${tools[@]}"; do
  path=$(command -v "$tool" || true)
  [[ -z "$path" && -x "/usr/sbin/$tool" ]] && path=/usr/sbin/$tool
  if [[ -z "$path" ]]; then
    echo "pack_bench_tools.sh: $tool is not installed here (scripts/setup.sh bench)" >&2
    exit 1
  fi
  cp -L "$path" "$out/lib/$tool.bin"
  # Every library the binary loads, and the loader itself ("=> /path" lines, then the loader).
  ldd "$path" | awk '/=> \// { print $3 } /^\t\// { print $1 }' | while read -r lib; do
    cp -Ln "$lib" "$out/lib/"
  done
done
loader=$(cd "$out/lib" && ls ld-linux-*.so.* | head -n 1)
for tool in "${tools[@]}"; do
  cat >"$out/bin/$tool" <<EOF
#!/bin/sh
# $tool, packed by scripts/pack_bench_tools.sh with its libraries.
lib=\$(dirname "\$0")/../lib
exec "\$lib/$loader" --library-path "\$lib" "\$lib/$tool.bin" "\$@"
EOF
  chmod +x "$out/bin/$tool"
done
"$out/bin/wrk" -v >/dev/null 2>&1 || true  # wrk -v exits 1 after printing its version
"$out/bin/nginx" -v 2>/dev/null
echo "pack_bench_tools.sh: ${tools[*]} and $(ls "$out/lib" | wc -l) files in $out ($(du -sh "$out" | cut -f1))"
