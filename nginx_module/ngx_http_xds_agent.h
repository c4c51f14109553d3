/*
 * nginx-xds: the xDS agent's life in worker 0: started in init process,
 * snapshots handed over to the event loop through an eventfd and applied
 * there, stopped at exit.
 */


#ifndef _NGX_HTTP_XDS_AGENT_H_INCLUDED_
#define _NGX_HTTP_XDS_AGENT_H_INCLUDED_


#include "nginx_module/ngx_http_xds_module.h"


/* init process, after the apply state: worker 0 starts the agent when
 * xds_server is set. A failure is kept for the status page; nginx serves
 * on, so this returns NGX_OK. */
ngx_int_t ngx_http_xds_agent_init_process(ngx_cycle_t *cycle,
    ngx_http_xds_main_conf_t *xmcf);

/* exit process: stops the agent, if this process runs one */
void ngx_http_xds_agent_exit_process(ngx_cycle_t *cycle);


#endif /* _NGX_HTTP_XDS_AGENT_H_INCLUDED_ */
