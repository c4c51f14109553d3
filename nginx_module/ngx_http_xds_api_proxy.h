
/*
 * nginx-xds: a directive of another module run from ours
 * (ngx_http_xds_api_proxy.c).
 */


#ifndef _NGX_HTTP_XDS_API_PROXY_H_INCLUDED_
#define _NGX_HTTP_XDS_API_PROXY_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "nginx_module/ngx_http_xds_module.h"


/* what ngx_http_xds_api_call() answers for a directive `module` lacks */
extern char  ngx_http_xds_api_unknown[];


/*
 * Runs the directive argv[0] of `module` with the arguments argv[1..]
 * (NULL-terminated) in cf's current context, as ngx_conf_handler() would;
 * answers what the directive's handler answers, or ngx_http_xds_api_unknown.
 */
char *ngx_http_xds_api_call(ngx_conf_t *cf, ngx_module_t *module,
    char **argv);

/* nginx's proxy module, or NULL when this nginx was built without it */
ngx_module_t *ngx_http_xds_api_proxy_module(ngx_cycle_t *cycle);


#endif /* _NGX_HTTP_XDS_API_PROXY_H_INCLUDED_ */
