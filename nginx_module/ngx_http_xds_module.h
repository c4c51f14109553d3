/*
 * nginx-xds: the module's shared declarations.
 */


#ifndef _NGX_HTTP_XDS_MODULE_H_INCLUDED_
#define _NGX_HTTP_XDS_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "agent/xds_agent.h"
#include "nginx_module/ngx_http_xds_tls.h"


#define NGX_HTTP_XDS_VERSION_LEN  64
#define NGX_HTTP_XDS_ERROR_LEN    1024


typedef struct ngx_http_xds_apply_shctx_s  ngx_http_xds_apply_shctx_t;


/* The module's shared zone: what every worker must see. */
typedef struct {
    /* written by worker 0 under shpool->mutex, read by any worker */
    ngx_uint_t                     connected;
    ngx_pid_t                      agent_pid;   /* who wrote connected */
    u_char                         version[NGX_HTTP_XDS_VERSION_LEN];
    size_t                         version_len;
    u_char                         last_error[NGX_HTTP_XDS_ERROR_LEN];
    size_t                         last_error_len;
    time_t                         applied_at;
    time_t                         error_at;

    /* the upstream state applied from snapshots (ngx_http_xds_apply.c) */
    ngx_http_xds_apply_shctx_t    *apply;
} ngx_http_xds_shctx_t;


typedef struct {
    ngx_str_t                      server;      /* xds_server */
    ngx_str_t                      node_id;     /* xds_node_id */
    ngx_str_t                      fleet;       /* xds_fleet */
    ngx_str_t                      cache_path;  /* xds_cache */
    size_t                         zone_size;   /* xds_zone_size */
    ngx_http_xds_tls_t             tls;         /* xds_tls_* */
    ngx_array_t                   *labels;      /* xds_node_label:
                                                   nxa_label_t */

    ngx_shm_zone_t                *shm_zone;
    ngx_http_xds_shctx_t          *sh;
    ngx_slab_pool_t               *shpool;

    /* per process: the agent (worker 0 only) */
    nxa_agent_t                   *agent;

    /* the nginx.conf upstreams snapshots change (ngx_http_xds_apply.c) */
    ngx_array_t                    upstreams;  /* ngx_http_xds_upstream_t */
} ngx_http_xds_main_conf_t;


extern ngx_module_t  ngx_http_xds_module;


#endif /* _NGX_HTTP_XDS_MODULE_H_INCLUDED_ */
