
/*
 * nginx-xds: running the proxy module's own directive handlers from the
 * module's directives, as if the location had written them, so a
 * forwarding location is configured by nginx's code, not a copy of it.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "nginx_module/ngx_http_xds_module.h"
#include "nginx_module/ngx_http_xds_api_proxy.h"


/* what ngx_http_xds_api_call() answers for a directive nginx lacks */
char  ngx_http_xds_api_unknown[] = "is unknown";


/*
 * Runs the directive argv[0] of `module` with the arguments argv[1..] in
 * the current location, as ngx_conf_handler() would; answers what the
 * directive's handler answers, or ngx_http_xds_api_unknown.
 */

char *
ngx_http_xds_api_call(ngx_conf_t *cf, ngx_module_t *module, char **argv)
{
    char           *rv;
    void           *conf, **confp;
    size_t          len;
    ngx_str_t      *value;
    ngx_array_t    *args, *saved;
    ngx_command_t  *cmd;

    for (cmd = module->commands; cmd->name.len; cmd++) {
        if (ngx_strcmp(cmd->name.data, argv[0]) == 0) {
            break;
        }
    }

    if (cmd->name.len == 0) {
        return ngx_http_xds_api_unknown;
    }

    args = ngx_array_create(cf->temp_pool, 4, sizeof(ngx_str_t));
    if (args == NULL) {
        return NGX_CONF_ERROR;
    }

    /* handlers keep pointers into the arguments: they live in cf->pool,
     * NUL-terminated, as parsed tokens do */

    for ( /* void */ ; *argv; argv++) {
        value = ngx_array_push(args);
        if (value == NULL) {
            return NGX_CONF_ERROR;
        }

        len = ngx_strlen(*argv);

        value->data = ngx_pnalloc(cf->pool, len + 1);
        if (value->data == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_memcpy(value->data, *argv, len + 1);
        value->len = len;
    }

    confp = *(void **) ((char *) cf->ctx + cmd->conf);
    conf = confp ? confp[module->ctx_index] : NULL;

    saved = cf->args;
    cf->args = args;

    rv = cmd->set(cf, cmd, conf);

    cf->args = saved;

    return rv;
}


ngx_module_t *
ngx_http_xds_api_proxy_module(ngx_cycle_t *cycle)
{
    ngx_uint_t  m;

    for (m = 0; cycle->modules[m]; m++) {
        if (ngx_strcmp(cycle->modules[m]->name, "ngx_http_proxy_module")
            == 0)
        {
            return cycle->modules[m];
        }
    }

    return NULL;
}
