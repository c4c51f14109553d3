/*
 * nginx-xds: worker 0's reports into the module's zone (the status pages
 * read them).
 */


#ifndef _NGX_HTTP_XDS_REPORT_H_INCLUDED_
#define _NGX_HTTP_XDS_REPORT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "nginx_module/ngx_http_xds_module.h"


/* whether the agent's stream is open, and which process says so */
void ngx_http_xds_report_connected(ngx_http_xds_main_conf_t *xmcf,
    ngx_uint_t connected);

/* the last error (truncated to NGX_HTTP_XDS_ERROR_LEN) and its time */
void ngx_http_xds_report_error(ngx_http_xds_main_conf_t *xmcf, u_char *err,
    size_t len);

/* one apply: its duration (the histogram) and whether it was NACKed */
void ngx_http_xds_report_apply(ngx_http_xds_main_conf_t *xmcf, uint64_t usec,
    ngx_uint_t nacked);


#endif /* _NGX_HTTP_XDS_REPORT_H_INCLUDED_ */
