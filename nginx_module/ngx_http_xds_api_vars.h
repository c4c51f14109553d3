
/*
 * nginx-xds: $xds_fleet, $xds_api_server and $xds_api_authorization, the
 * variables of the forwarded seed APIs (ngx_http_xds_api_vars.c).
 */


#ifndef _NGX_HTTP_XDS_API_VARS_H_INCLUDED_
#define _NGX_HTTP_XDS_API_VARS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "nginx_module/ngx_http_xds_module.h"


/* adds the three variables once per configuration; `hlcf` is http{}'s */
ngx_int_t ngx_http_xds_api_add_variables(ngx_conf_t *cf,
    ngx_http_xds_api_loc_conf_t *hlcf);


#endif /* _NGX_HTTP_XDS_API_VARS_H_INCLUDED_ */
