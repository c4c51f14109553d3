/*
 * nginx-xds: stage 1, a snapshot as the module keeps it (the types are in
 * the hub, ngx_http_xds_module.h).
 *
 * The agent's snapshot lives in the agent; the module converts it once into
 * these plain structures, applies them, and keeps a copy of the last applied
 * one in its shared zone, so that after a reload the master re-applies it to
 * the rebuilt upstream zones before any new worker serves a request.
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

/* converts the agent's snapshot; everything is allocated from `pool` */
ngx_http_xds_snapshot_t *ngx_http_xds_snapshot_from_agent(ngx_pool_t *pool,
    nxa_snapshot_t *snapshot);

/* a copy of `snapshot` in one block of `shpool`; NULL when the zone is full */
ngx_http_xds_snapshot_t *ngx_http_xds_snapshot_copy(ngx_slab_pool_t *shpool,
    ngx_http_xds_snapshot_t *snapshot);


#endif /* _NGX_HTTP_XDS_SNAPSHOT_H_INCLUDED_ */
