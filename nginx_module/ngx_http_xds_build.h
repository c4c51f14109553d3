/*
 * nginx-xds: stage 2, upstreams built at run time by nginx's own parser.
 *
 * An upstream a snapshot defines, but that nginx.conf has no zone for (or
 * not at all), is built in every worker from text: the same `upstream {}`
 * body nginx.conf would hold, parsed and initialized by nginx's own
 * directive handlers, so every balancer and keepalive works as configured.
 * A build lives in its own pool and is freed when it is neither current nor
 * used by a request.
 */


#ifndef _NGX_HTTP_XDS_BUILD_H_INCLUDED_
#define _NGX_HTTP_XDS_BUILD_H_INCLUDED_


#include "nginx_module/ngx_http_xds_module.h"


/* the `upstream {}` body of `xud` into `text` (allocated from `pool`); with
 * `zone`, balancer lines only are significant (peers are in the zone) */
ngx_int_t ngx_http_xds_build_text(ngx_pool_t *pool,
    ngx_http_xds_upstream_def_t *xud, ngx_str_t *text);

/* parses and initializes an upstream named `name` from `text`; `zone` is
 * the zone of the nginx.conf upstream it stands in for, or NULL. On error
 * returns NULL with nginx's message in `err`. */
ngx_http_xds_build_t *ngx_http_xds_build(ngx_cycle_t *cycle, ngx_str_t *name,
    ngx_str_t *text, ngx_uint_t keepalive, ngx_shm_zone_t *zone, u_char *err,
    size_t err_len);

/* sets weight 0 on the peers of such servers of `xud` after the build */
void ngx_http_xds_build_weights(ngx_http_xds_build_t *build,
    ngx_http_xds_upstream_def_t *xud);

void ngx_http_xds_build_hold(ngx_http_xds_build_t *build);
void ngx_http_xds_build_release(ngx_http_xds_build_t *build);


#endif /* _NGX_HTTP_XDS_BUILD_H_INCLUDED_ */
