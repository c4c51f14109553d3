/*
 * nginx-xds: the status page (xds_status;), as text, ?format=json or
 * ?format=prometheus.
 */


#ifndef _NGX_HTTP_XDS_STATUS_H_INCLUDED_
#define _NGX_HTTP_XDS_STATUS_H_INCLUDED_


#include "nginx_module/ngx_http_xds_module.h"


/* the content handler of a location with xds_status */
ngx_int_t ngx_http_xds_status_handler(ngx_http_request_t *r);


#endif /* _NGX_HTTP_XDS_STATUS_H_INCLUDED_ */
