
/*
 * nginx-xds: the location configuration, xds_api_server and
 * xds_api_token_file (ngx_http_xds_api_conf.c).
 */


#ifndef _NGX_HTTP_XDS_API_CONF_H_INCLUDED_
#define _NGX_HTTP_XDS_API_CONF_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "nginx_module/ngx_http_xds_module.h"


void *ngx_http_xds_api_create_loc_conf(ngx_conf_t *cf);
char *ngx_http_xds_api_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);

/* xds_api_server host:port; (http) */
char *ngx_http_xds_api_server(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/* xds_api_token_file path; (http) */
char *ngx_http_xds_api_token_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


#endif /* _NGX_HTTP_XDS_API_CONF_H_INCLUDED_ */
