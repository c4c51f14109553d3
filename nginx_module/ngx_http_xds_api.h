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


/* dynamic_upstream; and dyups_interface; (location) */
char *ngx_http_xds_api_forward(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


#endif /* _NGX_HTTP_XDS_API_H_INCLUDED_ */
