/*
 * nginx-xds: stage 4, what the module knows of nginx.conf's upstream blocks.
 *
 * The balancing method and keepalive settings of an upstream block are not
 * readable back from nginx's own configuration structures, so the module
 * records them as nginx parses them (ngx_http_xds_upstreams.c), and keeps
 * one record per upstream that snapshots may change.
 */


#ifndef _NGX_HTTP_XDS_UPSTREAMS_H_INCLUDED_
#define _NGX_HTTP_XDS_UPSTREAMS_H_INCLUDED_


#include "nginx_module/ngx_http_xds_module.h"


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
