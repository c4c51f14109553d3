/*
 * nginx-xds: applying snapshots to upstreams.
 *
 * Owns everything about peers: wrapping the upstreams' peer init/get/free,
 * editing shared-memory peer lists in place, run-time upstreams, and making
 * every worker serve the newest applied version.
 */


#ifndef _NGX_HTTP_XDS_APPLY_H_INCLUDED_
#define _NGX_HTTP_XDS_APPLY_H_INCLUDED_


#include "nginx_module/ngx_http_xds_module.h"


/* postconfiguration: wraps the upstreams' peer callbacks and hands the
 * static upstreams of nginx.conf to the agent's report (see below). */
ngx_int_t ngx_http_xds_apply_init_conf(ngx_conf_t *cf,
    ngx_http_xds_main_conf_t *xmcf);

/* shm zone init: lays out (or, after a reload, finds) the apply state in
 * the module's zone. Called by the module's zone init with the pool locked
 * state it gets from nginx; `fresh` is 1 when the zone is new. */
ngx_int_t ngx_http_xds_apply_init_zone(ngx_http_xds_main_conf_t *xmcf,
    ngx_uint_t fresh);

/* init module (the master, after the shared zones): after a reload,
 * re-applies the last applied snapshot to the rebuilt upstream zones before
 * any new worker serves a request. */
ngx_int_t ngx_http_xds_apply_init_module(ngx_cycle_t *cycle,
    ngx_http_xds_main_conf_t *xmcf);

/* init process, every worker: binds the worker to the zone's state and
 * brings it to the newest applied version before it serves anything. */
ngx_int_t ngx_http_xds_apply_init_process(ngx_cycle_t *cycle,
    ngx_http_xds_main_conf_t *xmcf);

/* Adds nginx.conf's upstreams to the agent, so the control plane adopts
 * the ones it does not know. Worker 0, before nxa_agent_start(). */
ngx_int_t ngx_http_xds_apply_report_static(ngx_http_xds_main_conf_t *xmcf,
    nxa_agent_t *agent);

/* Worker 0's event loop: applies `snapshot` all or nothing. On error
 * returns NGX_ERROR with a message in `err` (NUL-terminated) and changes
 * nothing. Does not call nxa_snapshot_done(). */
ngx_int_t ngx_http_xds_apply_snapshot(ngx_cycle_t *cycle,
    ngx_http_xds_main_conf_t *xmcf, nxa_snapshot_t *snapshot, u_char *err,
    size_t err_len);

/* Any worker, early in each request (a phase handler): if a newer version
 * was applied than this worker has materialized, catches up first. */
ngx_int_t ngx_http_xds_apply_sync(ngx_http_request_t *r,
    ngx_http_xds_main_conf_t *xmcf);

/* The status page's upstream section: appends every upstream with its
 * peers and their state, as text or as a JSON array. */
ngx_chain_t *ngx_http_xds_apply_status(ngx_http_request_t *r,
    ngx_http_xds_main_conf_t *xmcf, ngx_uint_t json);


#endif /* _NGX_HTTP_XDS_APPLY_H_INCLUDED_ */
