/*
 * nginx-xds: stage 3, the request side of peers that snapshots change in place.
 *
 * nginx 1.22.1 has no way to change a peer list under live requests: a
 * request sizes its `tried` bitmap from the list when it starts, and keeps
 * a pointer to the peer it uses until its pool is freed ($upstream_addr is
 * read at log time). The module wraps the upstream's peer.init/get/free
 * outside every balancer and keepalive: a request whose list changed shape
 * since it started re-initializes its balancer before its next try, and
 * every peer a request got holds a reference until the request ends; a
 * removed peer is a zombie, freed by whoever drops the last reference.
 */


#ifndef _NGX_HTTP_XDS_PEER_H_INCLUDED_
#define _NGX_HTTP_XDS_PEER_H_INCLUDED_


#include "nginx_module/ngx_http_xds_module.h"


/* replaces the upstream's peer.init with the wrapper */
ngx_int_t ngx_http_xds_peer_wrap(ngx_http_xds_upstream_t *xu);

/* a removed peer: freed now if no request holds it, else by the last one */
void ngx_http_xds_peer_retire(ngx_slab_pool_t *shpool,
    ngx_http_upstream_rr_peer_t *peer);

/* frees a peer's memory: the peer, its address, name and server strings */
void ngx_http_xds_peer_free(ngx_slab_pool_t *shpool,
    ngx_http_upstream_rr_peer_t *peer);


#endif /* _NGX_HTTP_XDS_PEER_H_INCLUDED_ */
