/*
 * nginx-xds: the xDS agent's life in worker 0.
 *
 * The agent (agent/xds_agent.h) runs its own thread in worker 0 and never
 * calls ngx_*: it queues snapshots and log lines under a pthread mutex and
 * wakes the worker's event loop through an eventfd. The worker hands each
 * snapshot to ngx_http_xds_apply_snapshot(), answers it, and polls the
 * connection state for the status page.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>

#include "nginx_module/ngx_http_xds_module.h"
#include "nginx_module/ngx_http_xds_apply.h"
#include "nginx_module/ngx_http_xds_report.h"
#include "nginx_module/ngx_http_xds_agent.h"


#define NGX_HTTP_XDS_TIMER            500
#define NGX_HTTP_XDS_LOG_QUEUE_MAX    1024


typedef struct ngx_http_xds_msg_s  ngx_http_xds_msg_t;

/* a snapshot or a log line from the agent thread, malloc()ed by it */
struct ngx_http_xds_msg_s {
    ngx_http_xds_msg_t            *next;
    nxa_snapshot_t                *snapshot;   /* NULL: a log line */
    ngx_uint_t                     level;
    size_t                         len;
    u_char                         text[1];
};


/* worker 0's side of the agent; one per process */
typedef struct {
    /* shared with the agent thread, under mutex */
    pthread_mutex_t                mutex;
    ngx_http_xds_msg_t            *head;
    ngx_http_xds_msg_t           **tail;
    ngx_uint_t                     nlines;
    ngx_uint_t                     dropped;
    ngx_uint_t                     closing;

    /* written before the agent thread starts, read-only after */
    ngx_fd_t                       fd;
    ngx_uint_t                     log_level;

    /* the worker's own */
    ngx_http_xds_main_conf_t      *xmcf;
    ngx_cycle_t                   *cycle;
    ngx_connection_t              *conn;
    ngx_event_t                    timer;
    ngx_uint_t                     connected;
} ngx_http_xds_worker_t;


static ngx_int_t ngx_http_xds_start_agent(ngx_cycle_t *cycle,
    ngx_http_xds_main_conf_t *xmcf);
static void ngx_http_xds_stop_agent(ngx_http_xds_worker_t *xw);
static uint64_t ngx_http_xds_usec(void);

static void ngx_http_xds_agent_snapshot(void *ctx, nxa_snapshot_t *snapshot);
static void ngx_http_xds_agent_log(void *ctx, int level, const char *msg);
static void ngx_http_xds_agent_push(ngx_http_xds_worker_t *xw,
    ngx_http_xds_msg_t *msg);
static void ngx_http_xds_notify_handler(ngx_event_t *rev);
static void ngx_http_xds_process_queue(ngx_http_xds_worker_t *xw);
static void ngx_http_xds_apply(ngx_http_xds_worker_t *xw,
    nxa_snapshot_t *snapshot);
static void ngx_http_xds_connected_handler(ngx_event_t *ev);


static ngx_http_xds_worker_t  ngx_http_xds_worker = {
    PTHREAD_MUTEX_INITIALIZER,
    NULL,
    &ngx_http_xds_worker.head,
    0,
    0,
    0,
    -1,
    0,
    NULL,
    NULL,
    NULL,
    { 0 },
    0
};


ngx_int_t
ngx_http_xds_agent_init_process(ngx_cycle_t *cycle,
    ngx_http_xds_main_conf_t *xmcf)
{
    if (ngx_process != NGX_PROCESS_WORKER || ngx_worker != 0) {
        return NGX_OK;
    }

    if (xmcf->server.len == 0) {
        ngx_http_xds_report_connected(xmcf, 0);
        return NGX_OK;
    }

    if (ngx_http_xds_start_agent(cycle, xmcf) != NGX_OK) {

        /* nginx keeps serving what it has; the status page says why */

        ngx_http_xds_stop_agent(&ngx_http_xds_worker);
    }

    return NGX_OK;
}


void
ngx_http_xds_agent_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_xds_stop_agent(&ngx_http_xds_worker);
}


static ngx_int_t
ngx_http_xds_start_agent(ngx_cycle_t *cycle, ngx_http_xds_main_conf_t *xmcf)
{
    int                     rc;
    char                    err[NGX_HTTP_XDS_ERROR_LEN];
    sigset_t                set, old;
    ngx_fd_t                fd;
    ngx_connection_t       *c;
    nxa_config_t            config;
    ngx_http_xds_worker_t  *xw;

    xw = &ngx_http_xds_worker;

    xw->xmcf = xmcf;
    xw->cycle = cycle;
    xw->log_level = cycle->log->log_level;

    fd = eventfd(0, EFD_NONBLOCK|EFD_CLOEXEC);
    if (fd == -1) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, ngx_errno,
                      "xds eventfd() failed");
        ngx_http_xds_report_error(xmcf, (u_char *) "eventfd() failed",
                               sizeof("eventfd() failed") - 1);
        return NGX_ERROR;
    }

    c = ngx_get_connection(fd, cycle->log);
    if (c == NULL) {
        if (close(fd) == -1) {
            ngx_log_error(NGX_LOG_ALERT, cycle->log, ngx_errno,
                          "xds eventfd close() failed");
        }

        ngx_http_xds_report_error(xmcf, (u_char *) "no free connection",
                               sizeof("no free connection") - 1);
        return NGX_ERROR;
    }

    xw->fd = fd;
    xw->conn = c;

    c->data = xw;
    c->read->handler = ngx_http_xds_notify_handler;
    c->read->log = cycle->log;
    c->write->log = cycle->log;

    if (ngx_add_event(c->read, NGX_READ_EVENT, 0) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_memzero(&config, sizeof(nxa_config_t));

    config.server = (const char *) xmcf->server.data;
    config.node_id = (const char *) xmcf->node_id.data;
    config.fleet = (const char *) xmcf->fleet.data;
    config.cache_path = xmcf->cache_path.len
                        ? (const char *) xmcf->cache_path.data : NULL;
    config.user_agent = "nginx-xds nginx/" NGINX_VERSION;
    ngx_http_xds_tls_config(&xmcf->tls, &config);

    if (xmcf->labels) {
        config.labels = xmcf->labels->elts;
        config.nlabels = xmcf->labels->nelts;
    }

    /* each version as what changed against what nginx runs: applying it
     * costs what changed, not the whole state */
    config.deltas = 1;

    config.on_snapshot = ngx_http_xds_agent_snapshot;
    config.on_log = ngx_http_xds_agent_log;
    config.ctx = xw;

    err[0] = '\0';

    if (nxa_agent_create(&config, &xmcf->agent, err, sizeof(err)) != NXA_OK) {
        err[sizeof(err) - 1] = '\0';
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "xds cannot create the agent: %s", err);
        ngx_http_xds_report_error(xmcf, (u_char *) err, ngx_strlen(err));
        xmcf->agent = NULL;
        return NGX_ERROR;
    }

    if (ngx_http_xds_apply_report_static(xmcf, xmcf->agent) != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, cycle->log, 0,
                      "xds cannot report the static upstreams");
    }

    /* gRPC's threads inherit the mask: nginx's signals stay with nginx */

    sigfillset(&set);

    rc = pthread_sigmask(SIG_SETMASK, &set, &old);
    if (rc != 0) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, rc,
                      "xds pthread_sigmask() failed");
        return NGX_ERROR;
    }

    rc = nxa_agent_start(xmcf->agent);

    (void) pthread_sigmask(SIG_SETMASK, &old, NULL);

    if (rc != NXA_OK) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "xds cannot start the agent for \"%V\"",
                      &xmcf->server);
        ngx_http_xds_report_error(xmcf, (u_char *) "cannot start the agent",
                               sizeof("cannot start the agent") - 1);
        return NGX_ERROR;
    }

    xw->timer.handler = ngx_http_xds_connected_handler;
    xw->timer.data = xw;
    xw->timer.log = cycle->log;
    xw->timer.cancelable = 1;

    ngx_add_timer(&xw->timer, NGX_HTTP_XDS_TIMER);

    ngx_log_error(NGX_LOG_NOTICE, cycle->log, 0,
                  "xds agent started: server \"%V\"%s, node \"%V\", "
                  "fleet \"%V\"", &xmcf->server,
                  xmcf->tls.cert.content.len ? " over mutual TLS"
                  : xmcf->tls.ca.content.len ? " over TLS" : "",
                  &xmcf->node_id, &xmcf->fleet);

    return NGX_OK;
}


/*
 * Stops the agent and everything around it; safe to call twice and with
 * nothing started. A snapshot still queued is the agent's one outstanding
 * snapshot: nxa_agent_destroy() releases it without an answer, so the
 * control plane sees no NACK from a worker that merely exits.
 */

static void
ngx_http_xds_stop_agent(ngx_http_xds_worker_t *xw)
{
    ngx_http_xds_msg_t        *msg, *next;
    ngx_http_xds_main_conf_t  *xmcf;

    xmcf = xw->xmcf;

    if (xmcf == NULL) {
        return;
    }

    pthread_mutex_lock(&xw->mutex);

    xw->closing = 1;
    msg = xw->head;
    xw->head = NULL;
    xw->tail = &xw->head;
    xw->nlines = 0;

    pthread_mutex_unlock(&xw->mutex);

    if (xmcf->agent) {
        nxa_agent_destroy(xmcf->agent);
        xmcf->agent = NULL;

        ngx_log_error(NGX_LOG_NOTICE, xw->cycle->log, 0,
                      "xds agent stopped");
    }

    while (msg) {
        next = msg->next;

        if (msg->snapshot == NULL) {
            ngx_log_error(msg->level, xw->cycle->log, 0, "xds agent: %*s",
                          msg->len, msg->text);
        }

        ngx_free(msg);
        msg = next;
    }

    if (xw->timer.timer_set) {
        ngx_del_timer(&xw->timer);
    }

    if (xw->conn) {
        ngx_close_connection(xw->conn);
        xw->conn = NULL;
        xw->fd = -1;
    }

    ngx_shmtx_lock(&xmcf->shpool->mutex);

    if (xmcf->sh->agent_pid == ngx_pid) {
        xmcf->sh->connected = 0;
        xmcf->sh->agent_pid = 0;
    }

    ngx_shmtx_unlock(&xmcf->shpool->mutex);

    xw->xmcf = NULL;
}


/* a monotonic clock in microseconds: ngx_current_msec is too coarse */

static uint64_t
ngx_http_xds_usec(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return (uint64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}


/*
 * The agent thread's side: these two run on the agent's thread and must
 * not call ngx_*, so they use malloc() and write() directly.
 */

static void
ngx_http_xds_agent_snapshot(void *ctx, nxa_snapshot_t *snapshot)
{
    ngx_http_xds_worker_t *xw = ctx;

    ngx_http_xds_msg_t  *msg;

    msg = malloc(sizeof(ngx_http_xds_msg_t));
    if (msg == NULL) {
        nxa_snapshot_done(snapshot, NXA_ERROR, "out of memory in nginx");
        return;
    }

    msg->next = NULL;
    msg->snapshot = snapshot;
    msg->level = 0;
    msg->len = 0;
    msg->text[0] = '\0';

    ngx_http_xds_agent_push(xw, msg);
}


static void
ngx_http_xds_agent_log(void *ctx, int level, const char *text)
{
    ngx_http_xds_worker_t *xw = ctx;

    size_t               len;
    ngx_uint_t           ngx_level;
    ngx_http_xds_msg_t  *msg;

    switch (level) {

    case NXA_LOG_ERROR:
        ngx_level = NGX_LOG_ERR;
        break;

    case NXA_LOG_WARN:
        ngx_level = NGX_LOG_WARN;
        break;

    case NXA_LOG_INFO:
        ngx_level = NGX_LOG_INFO;
        break;

    default:
        ngx_level = NGX_LOG_DEBUG;
        break;
    }

    /* lines the error log would drop are not worth a wakeup */

    if (xw->log_level < ngx_level) {
        return;
    }

    len = strlen(text);

    msg = malloc(sizeof(ngx_http_xds_msg_t) + len);
    if (msg == NULL) {
        return;
    }

    msg->next = NULL;
    msg->snapshot = NULL;
    msg->level = ngx_level;
    msg->len = len;
    memcpy(msg->text, text, len + 1);

    ngx_http_xds_agent_push(xw, msg);
}


static void
ngx_http_xds_agent_push(ngx_http_xds_worker_t *xw, ngx_http_xds_msg_t *msg)
{
    uint64_t  one;

    pthread_mutex_lock(&xw->mutex);

    if (xw->closing) {
        pthread_mutex_unlock(&xw->mutex);

        /* a snapshot stays the agent's outstanding one: destroy frees it */

        free(msg);
        return;
    }

    if (msg->snapshot == NULL) {

        if (xw->nlines >= NGX_HTTP_XDS_LOG_QUEUE_MAX) {
            xw->dropped++;
            pthread_mutex_unlock(&xw->mutex);
            free(msg);
            return;
        }

        xw->nlines++;
    }

    *xw->tail = msg;
    xw->tail = &msg->next;

    pthread_mutex_unlock(&xw->mutex);

    one = 1;

    if (write(xw->fd, &one, sizeof(uint64_t)) == -1) {
        /* EAGAIN: the counter is full, so the worker is woken anyway */
    }
}


static void
ngx_http_xds_notify_handler(ngx_event_t *rev)
{
    ngx_connection_t       *c;
    ngx_http_xds_worker_t  *xw;
    uint64_t                count;
    ssize_t                 n;

    c = rev->data;
    xw = c->data;

    if (c->close) {

        /* worker_shutdown_timeout closes what is left, ours too */

        ngx_http_xds_stop_agent(xw);
        return;
    }

    n = read(c->fd, &count, sizeof(uint64_t));

    if (n == -1 && ngx_errno != NGX_EAGAIN) {
        ngx_log_error(NGX_LOG_ALERT, rev->log, ngx_errno,
                      "xds eventfd read() failed");
    }

    ngx_http_xds_process_queue(xw);
}


static void
ngx_http_xds_process_queue(ngx_http_xds_worker_t *xw)
{
    ngx_uint_t           dropped;
    ngx_http_xds_msg_t  *msg, *next;

    pthread_mutex_lock(&xw->mutex);

    msg = xw->head;
    xw->head = NULL;
    xw->tail = &xw->head;
    xw->nlines = 0;
    dropped = xw->dropped;
    xw->dropped = 0;

    pthread_mutex_unlock(&xw->mutex);

    if (dropped) {
        ngx_log_error(NGX_LOG_WARN, xw->cycle->log, 0,
                      "xds agent: %ui log lines dropped", dropped);
    }

    while (msg) {
        next = msg->next;

        if (msg->snapshot) {
            ngx_http_xds_apply(xw, msg->snapshot);

        } else {
            ngx_log_error(msg->level, xw->cycle->log, 0, "xds agent: %*s",
                          msg->len, msg->text);
        }

        ngx_free(msg);
        msg = next;
    }
}


static void
ngx_http_xds_apply(ngx_http_xds_worker_t *xw, nxa_snapshot_t *snapshot)
{
    size_t                     len, n;
    u_char                     err[NGX_HTTP_XDS_ERROR_LEN];
    u_char                     what[128], *p;
    uint64_t                   start;
    ngx_int_t                  rc;
    ngx_uint_t                 nrejected;
    const char                *version;
    ngx_http_xds_main_conf_t  *xmcf;

    xmcf = xw->xmcf;
    version = nxa_snapshot_version(snapshot);

    err[0] = '\0';

    start = ngx_http_xds_usec();

    rc = ngx_http_xds_apply_snapshot(xw->cycle, xmcf, snapshot, &nrejected,
                                     err, sizeof(err));

    ngx_http_xds_report_apply(xmcf, ngx_http_xds_usec() - start,
                             rc != NGX_OK || nrejected);

    if (rc == NGX_OK && nrejected) {

        /* the rest is applied; the agent NACKs naming the rejected ones */

        err[sizeof(err) - 1] = '\0';
        ngx_http_xds_report_error(xmcf, err, ngx_strlen(err));
    }

    if (rc == NGX_OK) {
        len = ngx_min(ngx_strlen(version), NGX_HTTP_XDS_VERSION_LEN);

        ngx_shmtx_lock(&xmcf->shpool->mutex);

        ngx_memcpy(xmcf->sh->version, version, len);
        xmcf->sh->version_len = len;
        xmcf->sh->applied_at = ngx_time();

        ngx_shmtx_unlock(&xmcf->shpool->mutex);

        /* whole or a change, and its size: what this apply cost */

        n = nxa_snapshot_upstream_count(snapshot);

        if (nxa_snapshot_is_delta(snapshot)) {
            p = ngx_snprintf(what, sizeof(what) - 1,
                             "a change: %uz upstream%s, %uz removed", n,
                             n == 1 ? "" : "s",
                             nxa_snapshot_removed_count(snapshot));
        } else {
            p = ngx_snprintf(what, sizeof(what) - 1, "whole: %uz upstream%s",
                             n, n == 1 ? "" : "s");
        }

        *p = '\0';

        if (nrejected) {
            ngx_log_error(NGX_LOG_NOTICE, xw->cycle->log, 0,
                          "xds applied version \"%s\"%s (%s) except %ui "
                          "upstream%s", version,
                          nxa_snapshot_from_cache(snapshot)
                          ? " from the cache file" : "", what, nrejected,
                          nrejected == 1 ? "" : "s");

        } else {
            ngx_log_error(NGX_LOG_NOTICE, xw->cycle->log, 0,
                          "xds applied version \"%s\"%s (%s)", version,
                          nxa_snapshot_from_cache(snapshot)
                          ? " from the cache file" : "", what);
        }

        nxa_snapshot_done(snapshot, NXA_OK, NULL);
        return;
    }

    err[sizeof(err) - 1] = '\0';

    if (err[0] == '\0') {
        ngx_cpystrn(err, (u_char *) "rejected by nginx", sizeof(err));
    }

    ngx_http_xds_report_error(xmcf, err, ngx_strlen(err));

    ngx_log_error(NGX_LOG_ERR, xw->cycle->log, 0,
                  "xds rejected version \"%s\": %s", version, err);

    /* nothing changed, but the next version comes whole: a change against
     * state this worker may not have built is not worth the risk */

    nxa_agent_want_full(xmcf->agent);

    nxa_snapshot_done(snapshot, NXA_ERROR, (const char *) err);
}


static void
ngx_http_xds_connected_handler(ngx_event_t *ev)
{
    ngx_uint_t              connected;
    ngx_http_xds_worker_t  *xw;

    xw = ev->data;

    if (ngx_exiting || ngx_quit || ngx_terminate) {

        /* an old worker 0 after a reload: its successor runs the agent */

        ngx_http_xds_stop_agent(xw);
        return;
    }

    connected = nxa_agent_connected(xw->xmcf->agent) ? 1 : 0;

    if (connected != xw->connected) {
        ngx_log_error(NGX_LOG_WARN, ev->log, 0,
                      connected ? "xds connected to \"%V\""
                                : "xds disconnected from \"%V\"",
                      &xw->xmcf->server);
        xw->connected = connected;
    }

    ngx_http_xds_report_connected(xw->xmcf, connected);

    ngx_add_timer(ev, NGX_HTTP_XDS_TIMER);
}
