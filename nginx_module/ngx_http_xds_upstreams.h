/*
 * nginx-xds: what the module knows of nginx.conf's upstream blocks.
 *
 * The balancing method and keepalive settings of an upstream block are not
 * readable back from nginx's own configuration structures, so the module
 * records them as nginx parses them (ngx_http_xds_upstreams.c), and keeps
 * one record per upstream that snapshots may change.
 */


#ifndef _NGX_HTTP_XDS_UPSTREAMS_H_INCLUDED_
#define _NGX_HTTP_XDS_UPSTREAMS_H_INCLUDED_


#include "nginx_module/ngx_http_xds_build.h"
#include "nginx_module/ngx_http_xds_module.h"


/* shared: one per upstream{} of nginx.conf and per run-time upstream;
 * outlives reloads (by name) */
typedef struct ngx_http_xds_upstream_sh_s  ngx_http_xds_upstream_sh_t;

struct ngx_http_xds_upstream_sh_s {
    /* zone and run-time upstreams: taken for reading by every peer
     * get/init, for writing by apply */
    ngx_atomic_t                     lock;
    /* zone and run-time upstreams: bumped whenever the peer lists change
     * shape */
    ngx_atomic_t                     generation;
    /* a snapshot had it: from then on, a snapshot without it deletes it */
    ngx_atomic_t                     seen;
    ngx_atomic_t                     deleted;
    ngx_str_t                        name;
    /* run-time upstreams: the peers of every worker's build, in the
     * module's zone (backups at next) */
    ngx_http_upstream_rr_peers_t    *peers;
    ngx_http_xds_upstream_sh_t      *next;
};


/*
 * per process: an upstream whose peers snapshots change: one of nginx.conf
 * (with a zone: peers edited in place; without: rebuilt), or one that only
 * the control plane defines (built at run time on peers shared in the
 * module's zone, found by proxy_pass $host)
 */
typedef struct {
    ngx_http_upstream_srv_conf_t    *uscf;
    ngx_http_upstream_init_peer_pt   original_init;
    ngx_http_xds_upstream_sh_t      *sh;
    /* the generation this worker's derived state (random ranges) is for */
    ngx_uint_t                       generation;
    /* the current build (rebuilt upstreams) */
    ngx_http_xds_build_t            *build;
    ngx_uint_t                       runtime;        /* not in nginx.conf */
} ngx_http_xds_upstream_t;


/* the upstream-level configuration: what nginx.conf said */
typedef struct {
    ngx_int_t                        method;          /* NXA_METHOD_* */
    ngx_str_t                        hash_key;
    ngx_flag_t                       hash_consistent;
    ngx_flag_t                       random_two;
    ngx_uint_t                       keepalive;
    ngx_uint_t                       keepalive_requests;
    ngx_msec_t                       keepalive_time;
    ngx_msec_t                       keepalive_timeout;

    ngx_http_xds_upstream_t         *xu;             /* NULL: not managed */
} ngx_http_xds_srv_conf_t;


/* whether snapshots edit the upstream's peers in its zone, in place */
#define ngx_http_xds_in_zone(xu)  ((xu)->sh && (xu)->uscf->shm_zone)


/* module ctx slots (ngx_http_xds_module.c) */
ngx_int_t ngx_http_xds_upstreams_preconfiguration(ngx_conf_t *cf);
void *ngx_http_xds_create_srv_conf(ngx_conf_t *cf);

/* postconfiguration: a record for every upstream{} block; wraps its peers */
ngx_int_t ngx_http_xds_upstreams_init(ngx_conf_t *cf, ngx_array_t *upstreams);

/* the upstream named `name` (nginx compares them case-insensitively) */
ngx_http_xds_upstream_t *ngx_http_xds_upstreams_find(ngx_array_t *upstreams,
    u_char *name, size_t len);

/* fills `out` and `servers` (allocated from `pool`) with what nginx.conf
 * says of `uscf`; strings are NUL-terminated copies */
ngx_int_t ngx_http_xds_upstreams_describe(ngx_pool_t *pool,
    ngx_http_upstream_srv_conf_t *uscf, nxa_upstream_t *out,
    nxa_server_t **servers);


#endif /* _NGX_HTTP_XDS_UPSTREAMS_H_INCLUDED_ */
