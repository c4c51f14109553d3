/*
 * nginx-xds: the http{} directives that configure the agent (their
 * handlers, for the module's command table).
 */


#ifndef _NGX_HTTP_XDS_DIRECTIVES_H_INCLUDED_
#define _NGX_HTTP_XDS_DIRECTIVES_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


#define NGX_HTTP_XDS_NAME_MAX         255


/* xds_server ADDRESS...: joined by "," for the agent */
char *ngx_http_xds_server(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
/* xds_node_label KEY VALUE */
char *ngx_http_xds_node_label(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
/* xds_node_id, xds_fleet: a name at cmd->offset */
char *ngx_http_xds_name(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_xds_cache(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_xds_zone_size(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);

/* NGX_OK when `name` is a valid node id or fleet */
ngx_int_t ngx_http_xds_valid_name(ngx_str_t *name);


#endif /* _NGX_HTTP_XDS_DIRECTIVES_H_INCLUDED_ */
