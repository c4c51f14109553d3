#!/usr/bin/env bash
# Builds the real ngx_dynamic_upstream for Debian's nginx, OUTSIDE the repo
# (its code never enters it), from a local git copy of
# github.com/cubicdaiya/ngx_dynamic_upstream (fetch it beforehand; this
# script reads nothing from the network), with nginx-dev's source tree and
# Debian's configure arguments (../shared/TOOLCHAIN.md).
#
#   bench/dynamic_upstream/build_module.sh GIT_DIR OUT_DIR
#
# Prints the path of OUT_DIR/ngx_dynamic_upstream_module.so.
set -euo pipefail
GIT_DIR=${1:?the ngx_dynamic_upstream git directory}
OUT=${2:?the directory to build in (outside the repo)}
[ -d /usr/share/nginx/src ] || { echo "build_module.sh: needs nginx-dev" >&2; exit 1; }
rm -rf "$OUT/src" "$OUT/nginx"
mkdir -p "$OUT/src"
git -C "$GIT_DIR" archive HEAD | tar -x -C "$OUT/src"
cp -r /usr/share/nginx/src "$OUT/nginx"
# Debian's configure arguments, as its own modules are built.
source "$OUT/nginx/conf_flags"
(cd "$OUT/nginx" && ./configure "${NGX_CONF_FLAGS[@]}" --add-dynamic-module="$OUT/src" \
  >"$OUT/configure.log" 2>&1 && make -f objs/Makefile modules >"$OUT/make.log" 2>&1)
cp "$OUT/nginx/objs/ngx_dynamic_upstream_module.so" "$OUT/"
echo "$OUT/ngx_dynamic_upstream_module.so"
