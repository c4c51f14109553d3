/*
 * nginx-xds: stage 1, a snapshot as the module keeps it (the types are in
 * the hub, ngx_http_xds_module.h).
 *
 * The agent's snapshot lives in the agent; the module converts it once into
 * these plain structures and applies them; each upstream's definition is
 * copied alone into the module's zone (ngx_http_xds_zone.c), where the other
 * workers and, after a reload, the master find it.
 */


#ifndef _NGX_HTTP_XDS_SNAPSHOT_H_INCLUDED_
#define _NGX_HTTP_XDS_SNAPSHOT_H_INCLUDED_


#include "nginx_module/ngx_http_xds_module.h"


/* an empty set for the `nupstreams` upstreams of a snapshot */
ngx_int_t ngx_http_xds_rejects_init(ngx_pool_t *pool,
    ngx_http_xds_rejects_t *rejects, ngx_uint_t nupstreams);

/* rejects upstream `index` with `reason` (copied); NGX_ERROR: no memory */
ngx_int_t ngx_http_xds_reject(ngx_http_xds_rejects_t *rejects,
    ngx_uint_t index, u_char *reason);

/* converts the agent's snapshot (whole, or a change with the names it
 * removes); everything is allocated from `pool` */
ngx_http_xds_snapshot_t *ngx_http_xds_snapshot_from_agent(ngx_pool_t *pool,
    nxa_snapshot_t *snapshot);

/* the size of one block holding `xud` with its servers and strings */
size_t ngx_http_xds_def_size(ngx_http_xds_upstream_def_t *xud);

/* copies `xud` into the block `p` of ngx_http_xds_def_size(xud) bytes */
ngx_http_xds_upstream_def_t *ngx_http_xds_def_copy(u_char *p,
    ngx_http_xds_upstream_def_t *xud);


#endif /* _NGX_HTTP_XDS_SNAPSHOT_H_INCLUDED_ */
