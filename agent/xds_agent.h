/*
 * The nginx-xds agent's C ABI: an xDS (ADS, Delta or state of the world) client that
 * keeps a stream to the control plane, validates every snapshot, hands it to
 * the embedder, and ACKs or NACKs it with the embedder's verdict.
 *
 * Changes, not snapshots (config.deltas = 1): the agent remembers what the
 * embedder runs (every upstream of each snapshot it answered NXA_OK, a
 * rejected upstream as it was before) and hands over each later version as
 * a change against it: nxa_snapshot_is_delta() is 1, the upstream accessors
 * enumerate only the upstreams that are new or differ, and
 * nxa_snapshot_removed() names the upstreams the version no longer has. A
 * whole snapshot (is_delta 0: the embedder replaces its state by it) is
 * handed over when the embedder has no state yet: the first one after
 * nxa_agent_start() (a new agent per nginx start or reload), one from the
 * cache file, and the next one after nxa_agent_want_full(). A version that
 * changes nothing is still handed over (empty), so it is ACKed in order.
 * (Over Delta, the default, the control plane sends a node nothing for a
 * version that changes none of its upstreams, so such a version never
 * reaches the agent; fleet status counts the node as up to date anyway.)
 * Without config.deltas every snapshot is whole, as before.
 *
 * Everything is callable from C; no C++ type or exception crosses it. A
 * handle is used by one embedder thread plus the agent's own thread; the
 * callbacks run on the agent's thread.
 */

#ifndef AGENT_XDS_AGENT_H_
#define AGENT_XDS_AGENT_H_

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NXA_OK     0
#define NXA_ERROR  -1

#define NXA_LOG_ERROR  0
#define NXA_LOG_WARN   1
#define NXA_LOG_INFO   2
#define NXA_LOG_DEBUG  3

/* Balancing methods, as nginx_xds.v1.Method. */
#define NXA_METHOD_ROUND_ROBIN  0
#define NXA_METHOD_LEAST_CONN   1
#define NXA_METHOD_IP_HASH      2
#define NXA_METHOD_HASH         3
#define NXA_METHOD_RANDOM       4

typedef struct nxa_agent_s     nxa_agent_t;
typedef struct nxa_snapshot_s  nxa_snapshot_t;

/* One upstream of a snapshot. Strings are NUL-terminated and live as long as
 * the snapshot (or, for nxa_agent_add_static_upstream, are copied). */
typedef struct {
    const char  *name;
    const char  *zone;              /* "" when none */
    int          method;            /* NXA_METHOD_* */
    const char  *hash_key;          /* "" unless NXA_METHOD_HASH */
    int          hash_consistent;
    unsigned     keepalive;         /* 0: none */
    unsigned     keepalive_requests;
    unsigned     keepalive_time_ms;
    unsigned     keepalive_timeout_ms;
    size_t       nservers;
} nxa_upstream_t;

/* One server of an upstream. */
typedef struct {
    const char  *address;           /* "1.2.3.4:80", "[::1]:80", "unix:/p" */
    unsigned     weight;
    unsigned     max_fails;
    unsigned     fail_timeout;      /* seconds */
    unsigned     max_conns;         /* 0: no limit */
    int          backup;
    int          down;
} nxa_server_t;

/* Called on the agent thread with a validated snapshot. The embedder must
 * later call nxa_snapshot_done() exactly once (from any thread); until then
 * the agent sends no ACK or NACK and applies no newer snapshot. */
typedef void (*nxa_snapshot_handler_pt)(void *ctx, nxa_snapshot_t *snapshot);

/* Called on the agent thread for log lines; `msg` is NUL-terminated. */
typedef void (*nxa_log_handler_pt)(void *ctx, int level, const char *msg);

/* A label of this node: a string field of its Node metadata (copied). */
typedef struct {
    const char  *key;               /* not "" nor "nginx" */
    const char  *value;
} nxa_label_t;

typedef struct {
    const char              *server;      /* control plane, "127.0.0.1:18000",
                                             or replicas "h1:p1,h2:p2": one
                                             stream to one of them; on failure
                                             the next, after the backoff */
    const char              *node_id;     /* required */
    const char              *fleet;       /* NULL or "": "default" */
    const char              *cache_path;  /* last-good snapshot file; NULL: none */
    const char              *user_agent;  /* NULL: "nginx-xds-agent" */
    nxa_snapshot_handler_pt  on_snapshot;
    nxa_log_handler_pt       on_log;      /* NULL: no logging */
    void                    *ctx;         /* passed to the handlers */
    unsigned                 backoff_initial_ms;  /* 0: 500 */
    unsigned                 backoff_max_ms;      /* 0: 30000 */

    /*
     * TLS to the control plane, as PEM text (NUL-terminated, copied; the
     * embedder reads the files, so nginx can read them in the master).
     * NULL or "": absent. TLS is on when tls_ca (the CA bundle that must
     * sign the server's certificate) is set; tls_cert and tls_key together
     * add a client certificate (mutual TLS).
     */
    const char              *tls_ca;
    const char              *tls_cert;
    const char              *tls_key;
    const char              *tls_server_name;  /* the name the server's
                                                  certificate must carry;
                                                  NULL: server's host */

    const nxa_label_t       *labels;      /* nlabels of them; keys unique */
    size_t                   nlabels;

    int                      deltas;      /* 1: hand over changes (above) */

    /*
     * 1: speak state-of-the-world ADS (StreamAggregatedResources); 0 (the
     * default): Delta ADS, where the control plane sends only the resources
     * that changed and, on a new stream, none the agent holds already.
     * What the embedder is handed is the same either way.
     */
    int                      sotw;
} nxa_config_t;

#define NXA_PEM_CERTIFICATES  0
#define NXA_PEM_PRIVATE_KEY   1

/* Checks PEM text before it is configured: NXA_PEM_CERTIFICATES wants one or
 * more certificates, NXA_PEM_PRIVATE_KEY one unencrypted private key. On
 * error returns NXA_ERROR and writes the reason into `err`. */
int nxa_pem_check(int kind, const char *pem, size_t len, char *err,
    size_t err_len);

/* Checks that `key` (PEM) is the private key of the first certificate of
 * `cert` (PEM); NXA_ERROR with the reason in `err` otherwise. */
int nxa_pem_key_matches(const char *cert, size_t cert_len, const char *key,
    size_t key_len, char *err, size_t err_len);

/* Creates an agent; copies everything it needs from `config`. On error
 * returns NXA_ERROR and writes a message into `err` (if not NULL). */
int nxa_agent_create(const nxa_config_t *config, nxa_agent_t **agent,
    char *err, size_t err_len);

/* Declares an upstream from nginx.conf; sent to the control plane in the
 * Node's metadata so it adopts the ones it does not know. Before start only. */
int nxa_agent_add_static_upstream(nxa_agent_t *agent,
    const nxa_upstream_t *upstream, const nxa_server_t *servers);

/* Starts the agent thread. If the control plane cannot be reached and the
 * cache file holds a snapshot, that snapshot is handed over first. */
int nxa_agent_start(nxa_agent_t *agent);

/* 1 while a stream to the control plane is open, else 0 (also before
 * nxa_agent_start). Thread-safe; cheap enough to poll from a timer. */
int nxa_agent_connected(const nxa_agent_t *agent);

/* Cancels the stream, joins the thread and frees the agent. A snapshot
 * handed over and not yet done is released. Safe with NULL. */
void nxa_agent_destroy(nxa_agent_t *agent);

/* The snapshot's version, as the control plane named it. */
const char *nxa_snapshot_version(const nxa_snapshot_t *snapshot);

/* Whether the snapshot came from the cache file rather than the stream. */
int nxa_snapshot_from_cache(const nxa_snapshot_t *snapshot);

/* 1 when the snapshot is a change against what the embedder runs (see the
 * top of this file), 0 when it is whole. */
int nxa_snapshot_is_delta(const nxa_snapshot_t *snapshot);

/* The upstreams of the snapshot: all of them, or in a delta the upserted
 * ones (new, or different from what the embedder runs). */
size_t nxa_snapshot_upstream_count(const nxa_snapshot_t *snapshot);

/* The names of the upstreams a delta removes (0 for a whole snapshot); the
 * name lives as long as the snapshot, NULL when `index` is out of range. */
size_t nxa_snapshot_removed_count(const nxa_snapshot_t *snapshot);
const char *nxa_snapshot_removed(const nxa_snapshot_t *snapshot,
    size_t index);

/* The next snapshot is handed over whole (the embedder lost its state).
 * Thread-safe. */
void nxa_agent_want_full(nxa_agent_t *agent);

/* Fills `out` with upstream `index`; NXA_ERROR when out of range. */
int nxa_snapshot_upstream(const nxa_snapshot_t *snapshot, size_t index,
    nxa_upstream_t *out);

/* Fills `out` with server `server` of upstream `upstream`. */
int nxa_snapshot_server(const nxa_snapshot_t *snapshot, size_t upstream,
    size_t server, nxa_server_t *out);

/*
 * Rejects upstream `index` of the snapshot (of a delta: of its upserted
 * ones) alone, with `error` (the reason,
 * copied; NULL or "": "rejected by nginx"), before nxa_snapshot_done(snapshot,
 * NXA_OK, NULL): the embedder applied every other upstream and keeps this one
 * as it was (or without it, when it is new). The agent then writes what the
 * embedder runs to the cache file (this upstream as last applied) and NACKs
 * the response naming each rejected upstream: a line `upstream "NAME": error`
 * each in error_detail.message, and an nginx_xds.v1.RejectedUpstreams in
 * error_detail.details. The agent checks every upstream before the handover
 * too and leaves out (and names in that NACK) those it rejects itself, so
 * the snapshot holds their last good state. A second call for one index
 * counts once. NXA_ERROR when `index` is out of range.
 */
int nxa_snapshot_reject_upstream(nxa_snapshot_t *snapshot, size_t index,
    const char *error);

/* Reports the embedder's verdict and releases the snapshot: NXA_OK ACKs it
 * (and writes it to the cache file), or with upstreams rejected by
 * nxa_snapshot_reject_upstream() applies the rest and NACKs naming them;
 * anything else NACKs it whole with `error` (single rejections are then
 * dropped). */
void nxa_snapshot_done(nxa_snapshot_t *snapshot, int status, const char *error);

#ifdef __cplusplus
}
#endif

#endif /* AGENT_XDS_AGENT_H_ */
