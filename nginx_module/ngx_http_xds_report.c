/*
 * nginx-xds: what worker 0 reports into the module's zone for the status
 * pages: the agent's connection, the last error, and each apply's duration
 * and verdict. Each takes the zone's mutex for the few fields it writes.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "nginx_module/ngx_http_xds_module.h"
#include "nginx_module/ngx_http_xds_prometheus.h"
#include "nginx_module/ngx_http_xds_report.h"


void
ngx_http_xds_report_connected(ngx_http_xds_main_conf_t *xmcf,
    ngx_uint_t connected)
{
    ngx_shmtx_lock(&xmcf->shpool->mutex);

    xmcf->sh->connected = connected;
    xmcf->sh->agent_pid = ngx_pid;

    ngx_shmtx_unlock(&xmcf->shpool->mutex);
}


void
ngx_http_xds_report_error(ngx_http_xds_main_conf_t *xmcf, u_char *err,
    size_t len)
{
    len = ngx_min(len, NGX_HTTP_XDS_ERROR_LEN);

    ngx_shmtx_lock(&xmcf->shpool->mutex);

    ngx_memcpy(xmcf->sh->last_error, err, len);
    xmcf->sh->last_error_len = len;
    xmcf->sh->error_at = ngx_time();

    ngx_shmtx_unlock(&xmcf->shpool->mutex);
}


void
ngx_http_xds_report_apply(ngx_http_xds_main_conf_t *xmcf, uint64_t usec,
    ngx_uint_t nacked)
{
    ngx_shmtx_lock(&xmcf->shpool->mutex);

    ngx_http_xds_prometheus_observe_apply(xmcf->sh, usec);

    if (nacked) {
        xmcf->sh->nacks++;
    }

    ngx_shmtx_unlock(&xmcf->shpool->mutex);
}
