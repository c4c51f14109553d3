/*
 * nginx-xds: editing the shared peer lists of zone and run-time upstreams
 * to match a snapshot, in two phases (prepare, then commit).
 */


#ifndef _NGX_HTTP_XDS_PLAN_H_INCLUDED_
#define _NGX_HTTP_XDS_PLAN_H_INCLUDED_


#include "nginx_module/ngx_http_xds_module.h"


/* Applies the servers of `snapshot` to every zone and run-time upstream it
 * names, each upstream alone; the others keep their peers. Upstreams
 * `rejects` already holds are skipped; one whose peers cannot be prepared
 * (a bad address, only backups, a full zone) is added to `rejects` and
 * keeps its peers as they were; the others are applied. The caller holds
 * the apply lock for writing. NGX_ERROR (out of memory, with a message in
 * `err`, NUL-terminated) changes no peer. */
ngx_int_t ngx_http_xds_plan_apply(ngx_log_t *log,
    ngx_http_xds_main_conf_t *xmcf, ngx_http_xds_snapshot_t *snapshot,
    ngx_http_xds_rejects_t *rejects, u_char *err, size_t err_len);

/* After the agent's version was applied: marks nginx.conf's upstreams it
 * removes deleted, and those it applied not deleted. */
void ngx_http_xds_plan_mark(ngx_http_xds_main_conf_t *xmcf,
    ngx_http_xds_snapshot_t *snapshot, ngx_http_xds_rejects_t *rejects);


#endif /* _NGX_HTTP_XDS_PLAN_H_INCLUDED_ */
