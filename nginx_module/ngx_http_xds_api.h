/*
 * nginx-xds: the seed modules' HTTP APIs in an nginx location.
 *
 * `dynamic_upstream;` (ngx_dynamic_upstream) and `dyups_interface;` (dyups)
 * make their location a proxy to the control plane's HTTP gateway
 * (`xds_api_server`), which serves both APIs for the whole fleet: the
 * request goes out as it came, with X-Xds-Fleet naming this nginx's fleet,
 * through nginx's own proxy module, so no worker ever waits for it.
 */


#ifndef _NGX_HTTP_XDS_API_H_INCLUDED_
#define _NGX_HTTP_XDS_API_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


/*
 * The module's location configuration. Only the http{} level's has more
 * than `server`: it is the configuration's state (one per cycle).
 */
typedef struct {
    ngx_str_t                      server;     /* xds_api_server, merged */
    ngx_str_t                      authorization;  /* "Bearer <token>" of
                                                  xds_api_token_file, merged */

    /* http{} level only */
    u_char                        *file;       /* where xds_api_server is */
    ngx_uint_t                     line;
    ngx_str_t                      first;      /* the directive first used */
    ngx_http_upstream_srv_conf_t  *upstream;   /* shared by every location */
    ngx_array_t                    locations;  /* ngx_http_conf_ctx_t *,
                                                  of every location */
    ngx_uint_t                     variables;  /* $xds_fleet and
                                                  $xds_api_server added */
} ngx_http_xds_api_loc_conf_t;


void *ngx_http_xds_api_create_loc_conf(ngx_conf_t *cf);
char *ngx_http_xds_api_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);

/* xds_api_server host:port; (http) */
char *ngx_http_xds_api_server(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/* xds_api_token_file path; (http) */
char *ngx_http_xds_api_token_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/* dynamic_upstream; and dyups_interface; (location) */
char *ngx_http_xds_api_forward(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


#endif /* _NGX_HTTP_XDS_API_H_INCLUDED_ */
