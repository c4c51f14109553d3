
/*
 * nginx-xds: the variables a forwarding location sends to the control
 * plane's HTTP gateway, usable in any location once xds_api_server,
 * dynamic_upstream or dyups_interface appears:
 *
 *     $xds_fleet              this nginx's xds_fleet ("default" without one)
 *     $xds_api_server         xds_api_server as written
 *     $xds_api_authorization  "Bearer <token>" of xds_api_token_file, or the
 *                             client's own Authorization header
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "nginx_module/ngx_http_xds_module.h"
#include "nginx_module/ngx_http_xds_api_vars.h"


static ngx_int_t ngx_http_xds_api_fleet_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_xds_api_server_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_xds_api_authorization_variable(
    ngx_http_request_t *r, ngx_http_variable_value_t *v, uintptr_t data);


static ngx_str_t  ngx_http_xds_api_fleet_name = ngx_string("xds_fleet");
static ngx_str_t  ngx_http_xds_api_server_name = ngx_string("xds_api_server");
static ngx_str_t  ngx_http_xds_api_authorization_name =
    ngx_string("xds_api_authorization");


ngx_int_t
ngx_http_xds_api_add_variables(ngx_conf_t *cf,
    ngx_http_xds_api_loc_conf_t *hlcf)
{
    ngx_http_variable_t  *var;

    if (hlcf->variables) {
        return NGX_OK;
    }

    var = ngx_http_add_variable(cf, &ngx_http_xds_api_fleet_name, 0);
    if (var == NULL) {
        return NGX_ERROR;
    }

    var->get_handler = ngx_http_xds_api_fleet_variable;

    var = ngx_http_add_variable(cf, &ngx_http_xds_api_server_name, 0);
    if (var == NULL) {
        return NGX_ERROR;
    }

    var->get_handler = ngx_http_xds_api_server_variable;

    var = ngx_http_add_variable(cf, &ngx_http_xds_api_authorization_name, 0);
    if (var == NULL) {
        return NGX_ERROR;
    }

    var->get_handler = ngx_http_xds_api_authorization_variable;

    hlcf->variables = 1;

    return NGX_OK;
}


/* $xds_fleet: this nginx's xds_fleet, "default" without one */

static ngx_int_t
ngx_http_xds_api_fleet_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_xds_main_conf_t  *xmcf;

    xmcf = ngx_http_get_module_main_conf(r, ngx_http_xds_module);

    v->len = xmcf->fleet.len;
    v->data = xmcf->fleet.data;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return NGX_OK;
}


/* $xds_api_server: xds_api_server as written */

static ngx_int_t
ngx_http_xds_api_server_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_xds_api_loc_conf_t  *alcf;

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_xds_module);

    if (alcf->server.len == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->len = alcf->server.len;
    v->data = alcf->server.data;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return NGX_OK;
}


/*
 * $xds_api_authorization: "Bearer <token>" of xds_api_token_file, or
 * without one the client's own Authorization header
 */

static ngx_int_t
ngx_http_xds_api_authorization_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t                    *value;
    ngx_http_xds_api_loc_conf_t  *alcf;

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_xds_module);

    if (alcf->authorization.len) {
        value = &alcf->authorization;

    } else if (r->headers_in.authorization) {
        value = &r->headers_in.authorization->value;

    } else {
        v->not_found = 1;
        return NGX_OK;
    }

    v->len = value->len;
    v->data = value->data;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return NGX_OK;
}
