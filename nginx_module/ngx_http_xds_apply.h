/*
 * nginx-xds: stage 8, applying the agent's versions (whole, or changes) to
 * upstreams: the entry points for the module's hooks and worker 0's agent.
 * The state they share in the module's zone (a record per upstream, and
 * the change log) is in ngx_http_xds_zone.c. The peers are edited in
 * ngx_http_xds_plan.c, each worker's builds installed in
 * ngx_http_xds_install.c, requests wrapped in ngx_http_xds_peer.c.
 */


#ifndef _NGX_HTTP_XDS_APPLY_H_INCLUDED_
#define _NGX_HTTP_XDS_APPLY_H_INCLUDED_


#include "nginx_module/ngx_http_xds_module.h"


/* postconfiguration: wraps the upstreams' peer callbacks and hands the
 * static upstreams of nginx.conf to the agent's report (see below). */
ngx_int_t ngx_http_xds_apply_init_conf(ngx_conf_t *cf,
    ngx_http_xds_main_conf_t *xmcf);

/* init module (the master, after the shared zones): after a reload,
 * re-applies the records' definitions to the rebuilt upstream zones before
 * any new worker serves a request. */
ngx_int_t ngx_http_xds_apply_init_module(ngx_cycle_t *cycle,
    ngx_http_xds_main_conf_t *xmcf);

/* init process, every worker: builds every record's definition (it is at
 * generation 0) before it serves anything. */
ngx_int_t ngx_http_xds_apply_init_process(ngx_cycle_t *cycle,
    ngx_http_xds_main_conf_t *xmcf);

/* Adds nginx.conf's upstreams to the agent, so the control plane adopts
 * the ones it does not know. Worker 0, before nxa_agent_start(). */
ngx_int_t ngx_http_xds_apply_report_static(ngx_http_xds_main_conf_t *xmcf,
    nxa_agent_t *agent);

/* Worker 0's event loop: applies `snapshot`, whole (what it does not name
 * is removed) or a change (its upstreams and removed names alone), each
 * upstream on its own; its cost follows what it names. An upstream nginx
 * refuses (its parser, a bad address, only backups, a full
 * zone) keeps what it had (or stays absent when new) and is reported with
 * nxa_snapshot_reject_upstream(); the others are applied, and `*nrejected`
 * counts the rejected ones (the first one's message is in `err`). On error
 * (out of memory) returns NGX_ERROR with a message in `err`
 * (NUL-terminated) and changes nothing. Does not call nxa_snapshot_done(). */
ngx_int_t ngx_http_xds_apply_snapshot(ngx_cycle_t *cycle,
    ngx_http_xds_main_conf_t *xmcf, nxa_snapshot_t *snapshot,
    ngx_uint_t *nrejected, u_char *err, size_t err_len);

/* Any worker, early in each request (a phase handler): if the zone's
 * generation moved past this worker's, builds the records changed since
 * first. */
ngx_int_t ngx_http_xds_apply_sync(ngx_http_request_t *r,
    ngx_http_xds_main_conf_t *xmcf);

#endif /* _NGX_HTTP_XDS_APPLY_H_INCLUDED_ */
