/*
 * nginx-xds: the builds each worker installs for a snapshot, and the
 * worker's registry of run-time upstreams.
 */


#ifndef _NGX_HTTP_XDS_INSTALL_H_INCLUDED_
#define _NGX_HTTP_XDS_INSTALL_H_INCLUDED_


#include "nginx_module/ngx_http_xds_module.h"


/* an upstream of a snapshot that this worker builds from text */
typedef struct {
    ngx_http_xds_upstream_def_t     *def;
    ngx_http_xds_upstream_t         *xu;        /* nginx.conf's; NULL: run-time */
    ngx_http_xds_build_t            *build;     /* NULL: unchanged */
} ngx_http_xds_rebuild_t;


/* init process: an empty registry, and a cleanup that releases the current
 * builds before the cycle pool goes */
ngx_int_t ngx_http_xds_install_init_process(ngx_cycle_t *cycle,
    ngx_http_xds_main_conf_t *xmcf);

/* Builds, into `rebuilds` (ngx_http_xds_rebuild_t), every upstream of
 * `snapshot` whose build here is missing or differs; installs nothing. With
 * `rejects`, an upstream nginx's parser refuses is added to it with nginx's
 * message and the others are built; without, such an upstream fails the
 * whole. On error returns NGX_ERROR with the message in `err`; the caller
 * then releases what `rebuilds` holds. */
ngx_int_t ngx_http_xds_build_all(ngx_cycle_t *cycle,
    ngx_http_xds_main_conf_t *xmcf, ngx_http_xds_snapshot_t *snapshot,
    ngx_pool_t *pool, ngx_array_t *rebuilds, ngx_http_xds_rejects_t *rejects,
    u_char *err, size_t err_len);

/* Installs the builds of `rebuilds`. Their peers must be applied first. */
void ngx_http_xds_install_all(ngx_http_xds_main_conf_t *xmcf,
    ngx_array_t *rebuilds);

/* Removes this worker's run-time upstream `name`, if it has one; requests
 * using it keep its build until they end. */
void ngx_http_xds_install_remove(ngx_str_t *name);

/* Releases the builds of `rebuilds` that were not installed. */
void ngx_http_xds_release_all(ngx_array_t *rebuilds);

/* Releases the builds of `rebuilds` whose upstream `rejects` holds (by its
 * index in `snapshot`): those upstreams keep the build they have. */
void ngx_http_xds_release_rejected(ngx_array_t *rebuilds,
    ngx_http_xds_snapshot_t *snapshot, ngx_http_xds_rejects_t *rejects);

/* this worker's run-time upstreams (ngx_http_xds_upstream_t *); NULL before
 * init process */
ngx_array_t *ngx_http_xds_runtime_upstreams(void);


#endif /* _NGX_HTTP_XDS_INSTALL_H_INCLUDED_ */
