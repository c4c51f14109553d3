/*
 * nginx-xds: stage 0, the nginx internals the module mirrors.
 *
 * nginx 1.22.1 keeps some state the module must reach in structures that
 * are private to other modules' .c files (the keepalive cache, the random
 * balancer's ranges) or in the NGX_COMPAT spare space of a peer. They are
 * mirrored here, and only here, for the nginx versions they were checked
 * against: building against another version stops until they are checked
 * again.
 */


#ifndef _NGX_HTTP_XDS_COMPAT_H_INCLUDED_
#define _NGX_HTTP_XDS_COMPAT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <nginx.h>


#if !(NGX_COMPAT)
#error "ngx_http_xds_module needs nginx built --with-compat (Debian's is)"
#endif

#if (nginx_version < 1022000 || nginx_version >= 1023000)
#error "ngx_http_xds_compat.h mirrors nginx 1.22 internals: check them first"
#endif


extern ngx_module_t  ngx_http_upstream_keepalive_module;
extern ngx_module_t  ngx_http_upstream_random_module;


/*
 * The head of ngx_http_upstream_keepalive_srv_conf_t and of its cache
 * items (ngx_http_upstream_keepalive_module.c): a build's keepalive cache
 * holds idle upstream connections whose handlers point into the build's
 * pool, so they are closed before the pool is freed.
 */
typedef struct {
    ngx_uint_t                       max_cached;
    ngx_uint_t                       requests;
    ngx_msec_t                       time;
    ngx_msec_t                       timeout;
    ngx_queue_t                      cache;
    ngx_queue_t                      free;
} ngx_http_xds_keepalive_conf_t;

typedef struct {
    void                            *conf;
    ngx_queue_t                      queue;
    ngx_connection_t                *connection;
} ngx_http_xds_keepalive_item_t;


/*
 * The head of ngx_http_upstream_random_srv_conf_t
 * (ngx_http_upstream_random_module.c): the random balancer keeps per-worker
 * ranges of peer pointers for zone upstreams and rebuilds them only when
 * they are NULL, so a worker drops them after the peers change.
 */
typedef struct {
    ngx_uint_t                       two;
    void                            *ranges;
} ngx_http_xds_random_srv_conf_t;


/*
 * The references and the zombie mark of a peer live in one word of the
 * peer's NGX_COMPAT spare space, which nginx 1.22.1 leaves zeroed and
 * unused, so that "last reference of a zombie" is decided by one atomic add.
 */
#define ngx_http_xds_peer_refs(peer)  ((ngx_atomic_t *) &(peer)->spare[0])

#define NGX_HTTP_XDS_PEER_ZOMBIE                                              \
    ((ngx_atomic_uint_t) 1 << (sizeof(ngx_atomic_uint_t) * 8 - 1))


/*
 * The metrics of a peer live in the next two words of its spare space: the
 * requests sent to it and the attempts that failed (ngx_http_xds_peer.c
 * counts both with atomic adds; ?format=prometheus reads them). A peer in a
 * zone is shared, so they count every worker's requests.
 */
#define ngx_http_xds_peer_requests(peer)  ((ngx_atomic_t *) &(peer)->spare[1])
#define ngx_http_xds_peer_failures(peer)  ((ngx_atomic_t *) &(peer)->spare[2])


/* frees the random balancer's per-worker ranges of a zone upstream: they
 * are ngx_alloc()ed per worker and rebuilt when NULL */
static ngx_inline void
ngx_http_xds_free_random_ranges(ngx_http_upstream_srv_conf_t *uscf)
{
    ngx_http_xds_random_srv_conf_t  *rcf;

    rcf = ngx_http_conf_upstream_srv_conf(uscf,
                                          ngx_http_upstream_random_module);
    if (rcf->ranges) {
        ngx_free(rcf->ranges);
        rcf->ranges = NULL;
    }
}


#endif /* _NGX_HTTP_XDS_COMPAT_H_INCLUDED_ */
