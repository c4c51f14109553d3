/*
 * nginx-xds: stage 5, the applied state in the module's zone (its type,
 * ngx_http_xds_apply_shctx_t, is in the hub).
 */


#ifndef _NGX_HTTP_XDS_ZONE_H_INCLUDED_
#define _NGX_HTTP_XDS_ZONE_H_INCLUDED_


#include "nginx_module/ngx_http_xds_module.h"


/* shm zone init: lays out (or, after a reload, finds) the applied state in
 * the module's zone. Called by the module's zone init with the pool locked
 * state it gets from nginx; `fresh` is 1 when the zone is new. */
ngx_int_t ngx_http_xds_zone_init(ngx_http_xds_main_conf_t *xmcf,
    ngx_uint_t fresh);

/* The shared record of the upstream `name` (nginx.conf's or run-time), or
 * NULL; needs no lock. */
ngx_http_xds_upstream_sh_t *ngx_http_xds_find_sh(
    ngx_http_xds_apply_shctx_t *ash, ngx_str_t *name);

/* The record of the run-time upstream `name` with its peer list, created
 * the first time; NULL when the zone is full. The caller holds the apply
 * lock. */
ngx_http_xds_upstream_sh_t *ngx_http_xds_runtime_sh(
    ngx_http_xds_main_conf_t *xmcf, ngx_str_t *name);


#endif /* _NGX_HTTP_XDS_ZONE_H_INCLUDED_ */
