/*
 * nginx-xds: the status page in Prometheus' text format
 * (xds_status; with ?format=prometheus), and the apply histogram it shows.
 */


#ifndef _NGX_HTTP_XDS_PROMETHEUS_H_INCLUDED_
#define _NGX_HTTP_XDS_PROMETHEUS_H_INCLUDED_


#include "nginx_module/ngx_http_xds_module.h"


/* counts one apply of `usec` microseconds; the caller holds shpool->mutex */
void ngx_http_xds_prometheus_observe_apply(ngx_http_xds_shctx_t *sh,
    uint64_t usec);

/* the metrics as one buffer chain (last_buf set), from `sh` (a copy of the
 * shared state) and the peers of every upstream this worker knows */
ngx_chain_t *ngx_http_xds_prometheus(ngx_http_request_t *r,
    ngx_http_xds_main_conf_t *xmcf, ngx_http_xds_shctx_t *sh);


#endif /* _NGX_HTTP_XDS_PROMETHEUS_H_INCLUDED_ */
