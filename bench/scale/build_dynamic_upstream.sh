#!/usr/bin/env bash
# Builds the real ngx_dynamic_upstream as a dynamic module for Debian's nginx,
# OUTSIDE this repository (its code never enters it), for the side-by-side rows
# of bench/scale. Its source is a git repository you fetched yourself
# (github.com/cubicdaiya/ngx_dynamic_upstream; nothing is downloaded here):
#
#   NDU_GIT=/path/to/ngx_dynamic_upstream.git bench/scale/build_dynamic_upstream.sh
#
# Prints the path of ngx_dynamic_upstream_module.so (built once, then reused).
# Needs nginx-dev (/usr/share/nginx/src: nginx's source and Debian's configure
# arguments, ../shared/TOOLCHAIN.md).
set -euo pipefail
: "${NDU_GIT:?set NDU_GIT to a git repository of ngx_dynamic_upstream}"
work=${NDU_WORK:-${XDG_CACHE_HOME:-$HOME/.cache}/nginx-xds-bench/ngx_dynamic_upstream}
rev=$(git -C "$NDU_GIT" rev-parse --short HEAD)
so=$work/$rev/ngx_dynamic_upstream_module.so
if [ -f "$so" ]; then echo "$so"; exit 0; fi
if [ ! -f /usr/share/nginx/src/conf_flags ]; then
  sudo apt-get install -y nginx-dev >&2
fi
rm -rf "$work/$rev.tmp" && mkdir -p "$work/$rev.tmp/module"
git -C "$NDU_GIT" archive HEAD | tar -x -C "$work/$rev.tmp/module"
cp -r /usr/share/nginx/src "$work/$rev.tmp/nginx"
# shellcheck disable=SC1091
source /usr/share/nginx/src/conf_flags
(cd "$work/$rev.tmp/nginx" && ./configure "${NGX_CONF_FLAGS[@]}" \
   --add-dynamic-module="$work/$rev.tmp/module" >&2 && make -f objs/Makefile modules >&2)
mkdir -p "$work/$rev"
cp "$work/$rev.tmp/nginx/objs/ngx_dynamic_upstream_module.so" "$so"
rm -rf "$work/$rev.tmp"
echo "$so"
