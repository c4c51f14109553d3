/*
 * nginx-xds: a snapshot as the module keeps it.
 *
 * The agent's snapshot lives in the agent; the module converts it once into
 * these plain structures, applies them, and keeps a copy of the last applied
 * one in its shared zone, so that after a reload the master re-applies it to
 * the rebuilt upstream zones before any new worker serves a request.
 */


#ifndef _NGX_HTTP_XDS_SNAPSHOT_H_INCLUDED_
#define _NGX_HTTP_XDS_SNAPSHOT_H_INCLUDED_


#include "nginx_module/ngx_http_xds_module.h"


typedef struct {
    ngx_str_t                        address;
    ngx_uint_t                       weight;
    ngx_uint_t                       max_fails;
    time_t                           fail_timeout;
    ngx_uint_t                       max_conns;
    unsigned                         backup:1;
    unsigned                         down:1;
} ngx_http_xds_server_t;


typedef struct {
    ngx_str_t                        name;
    ngx_str_t                        zone;
    ngx_int_t                        method;        /* NXA_METHOD_* */
    ngx_str_t                        hash_key;
    ngx_flag_t                       hash_consistent;
    ngx_uint_t                       keepalive;
    ngx_uint_t                       keepalive_requests;
    ngx_msec_t                       keepalive_time;
    ngx_msec_t                       keepalive_timeout;
    ngx_uint_t                       nservers;
    ngx_http_xds_server_t           *servers;
} ngx_http_xds_upstream_def_t;


typedef struct {
    ngx_str_t                        version;
    ngx_uint_t                       nupstreams;
    ngx_http_xds_upstream_def_t     *upstreams;
} ngx_http_xds_snapshot_t;


/*
 * The upstreams of a snapshot that one apply rejects, each alone: the others
 * are applied, and each rejected one keeps what it had (see
 * ngx_http_xds_apply_snapshot()).
 */
typedef struct {
    ngx_pool_t                      *pool;
    ngx_uint_t                       n;         /* how many are rejected */
    u_char                         **reasons;   /* by upstream index: NULL, or
                                                   why (NUL-terminated) */
} ngx_http_xds_rejects_t;


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
