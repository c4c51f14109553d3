
/*
 * What nginx's configure writes for a dynamic module (auto/make,
 * objs/<module>_modules.c): load_module() looks these three arrays up with
 * dlsym(). The module has no filter, so no order.
 */


#include <ngx_config.h>
#include <ngx_core.h>


extern ngx_module_t  ngx_http_xds_module;

ngx_module_t *ngx_modules[] = {
    &ngx_http_xds_module,
    NULL
};

char *ngx_module_names[] = {
    "ngx_http_xds_module",
    NULL
};

char *ngx_module_order[] = {
    NULL
};
