// c2dns UDP batch I/O: one UDP socket read with recvmmsg and written with sendmmsg, so the
// JavaScript side is entered once per batch of datagrams instead of once per datagram, and the
// answers produced during a batch leave in one system call (issue 11). The socket is watched with
// libuv's uv_poll on Node's own event loop; nothing here runs on another thread.
//
// JavaScript API (src/server/udp-batch.ts is the only caller):
//   open(host, port, family, rcvbuf, onBatch) -> handle    throws an Error with .code (EADDRINUSE, ...)
//     onBatch(count, data Buffer, addresses[], meta Int32Array) is called per received batch: the
//     batch's datagrams one after the other in `data`, which a listening socket shares between
//     batches until it is full (64 KiB: not an allocation per batch, nor per datagram; a connected
//     socket's replies get a Buffer per batch, so no answer kept for long holds 64 KiB);
//     for datagram i, meta[4i..4i+3] = offset in data, length, source port, index in addresses
//     (each distinct source once per batch). `addresses` and `meta` are reused between calls.
//   port(handle) -> the bound port
//   send(handle, count, buffers[], slots Int32Array, addresses[], ports[]) -> datagrams not sent
//     reply i goes to the source of datagram slots[i] of the batch being handled (no address to
//     parse), or, when slots[i] < 0 (an answer that came later), to addresses[i]:ports[i].
//   stats(handle) -> { received, batches, sent, sendCalls, dropped, errors, lastError }
//   close(handle, callback)                                 the fd is closed after uv_close
// For the upstream UDP pool (src/upstream/native-udp.ts), a socket can serve as a client instead:
//   connect(handle, host, port, onError)   connects it (the kernel then delivers only that peer's
//     datagrams), lets it not keep the loop alive (uv_unref), and has receive errors (ICMP port
//     unreachable: ECONNREFUSED) reported as onError(code) instead of only counted
//   write(handle, buffer) -> 0, or the errno name   one datagram to the connected peer, at once
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>
#include <node_api.h>

// 64 datagrams per recvmmsg; up to 4 batches per readable event so other work on the loop
// (upstream replies, timers, the admin API) is not starved by a flood.
#define BATCH 64
#define BATCHES_PER_EVENT 4
// A UDP payload is at most 65,535 bytes: no datagram is ever cut. Pages are touched only as far
// as each datagram reaches, so the 4 MiB of slots cost a few pages of memory per socket.
#define SLOT 65536
#define SEND_MAX 1024
#define META 4
// Bytes of datagrams a listening socket's `data` Buffer holds before the next batch gets a new one.
#define POOL 65536

typedef struct {
  napi_env env;
  uv_poll_t poll;
  int fd;
  int family;
  int closing;
  int refs; // the JS handle (finalizer) and the uv handle (close callback): freed at 0
  napi_ref on_batch;
  napi_ref close_cb;
  napi_ref addresses; // Array reused for every batch
  napi_ref meta;      // Int32Array over meta_data
  napi_ref last_text; // the text of last_addr: a client asking again costs no new string
  napi_ref on_error;  // connect()'s onError, or NULL: receive errors are only counted
  napi_ref pool;      // a listening socket's current `data` Buffer, or NULL
  unsigned char *pool_data;
  size_t pool_size, pool_used;
  struct sockaddr_storage last_addr;
  napi_async_context async;
  int32_t *meta_data;
  unsigned char *slots;
  struct mmsghdr in[BATCH];
  struct iovec in_iov[BATCH];
  struct sockaddr_storage in_addr[BATCH];
  struct mmsghdr out[SEND_MAX];
  struct iovec out_iov[SEND_MAX];
  struct sockaddr_storage out_addr[SEND_MAX];
  double received, batches, sent, send_calls, dropped, errors;
  int last_error;
  int in_used; // entries of in[] the last recvmmsg filled: only their msg_namelen needs resetting
  int slot_of[BATCH]; // datagram k as JavaScript numbers them (port 0 ones left out) -> its entry of in[]
} sock_t;

#define CHECK(call)                                                   \
  do {                                                                \
    if ((call) != napi_ok) {                                          \
      napi_throw_error(env, NULL, "udp_batch: " #call " failed");     \
      return NULL;                                                    \
    }                                                                 \
  } while (0)

// The socket's state (~250 KiB) and its receive slots (4 MiB) are mapped, not malloc'ed: freeing
// blocks that size makes glibc raise its mmap threshold, after which each socket opened and closed
// (a reload re-binding) left heap fragments behind (RSS grew ~17 KiB per open/close).
static void *map_zeroed(size_t n) {
  void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? NULL : p;
}

static void release(sock_t *s) {
  if (--s->refs > 0) return;
  munmap(s->slots, (size_t)BATCH * SLOT);
  munmap(s, sizeof *s);
}

static void throw_errno(napi_env env, const char *syscall, int err, const char *host, int port) {
  char msg[256];
  const char *name = uv_err_name(-err);
  snprintf(msg, sizeof msg, "%s %s %s:%d (%s)", syscall, name, host, port, strerror(err));
  napi_value code, text, error;
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &text);
  napi_create_error(env, code, text, &error);
  napi_value v;
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, error, "syscall", v);
  napi_create_int32(env, -err, &v);
  napi_set_named_property(env, error, "errno", v);
  napi_throw(env, error);
}

static sock_t *get_sock(napi_env env, napi_value v) {
  sock_t *s = NULL;
  if (napi_get_value_external(env, v, (void **)&s) != napi_ok || s == NULL) {
    napi_throw_type_error(env, NULL, "udp_batch: expected a socket handle");
    return NULL;
  }
  return s;
}

// The text form of an address as Node's dgram gives it (rinfo.address): a link-local IPv6 source
// carries its zone ("fe80::1%eth0") so that the answer goes back out of the same interface.
// IPv4 by hand: glibc's inet_ntop formats it with sprintf, ~1,000 instructions per datagram.
static size_t format_addr(const struct sockaddr_storage *ss, char *out, size_t cap) {
  if (ss->ss_family == AF_INET) {
    const unsigned char *b = (const unsigned char *)&((const struct sockaddr_in *)ss)->sin_addr;
    size_t n = 0;
    for (int i = 0; i < 4; i++) {
      unsigned v = b[i];
      if (v >= 100) out[n++] = (char)('0' + v / 100);
      if (v >= 10) out[n++] = (char)('0' + v / 10 % 10);
      out[n++] = (char)('0' + v % 10);
      out[n++] = '.';
    }
    out[--n] = 0;
    return n;
  }
  const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)ss;
  inet_ntop(AF_INET6, &a6->sin6_addr, out, cap);
  size_t n = strlen(out);
  if (a6->sin6_scope_id != 0 && n + 1 + IF_NAMESIZE < cap) {
    char name[IF_NAMESIZE];
    if (if_indextoname(a6->sin6_scope_id, name) != NULL) n += (size_t)snprintf(out + n, cap - n, "%%%s", name);
    else n += (size_t)snprintf(out + n, cap - n, "%%%u", a6->sin6_scope_id);
  }
  return n;
}

static int port_of(const struct sockaddr_storage *ss) {
  return ss->ss_family == AF_INET ? ntohs(((const struct sockaddr_in *)ss)->sin_port) : ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
}

// Fills `ss` from an IP literal (with an optional %zone for IPv6); 0 when it is not one.
static socklen_t parse_addr(int family, const char *text, int port, struct sockaddr_storage *ss) {
  memset(ss, 0, sizeof *ss);
  if (family == 4) {
    struct sockaddr_in *a = (struct sockaddr_in *)ss;
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)port);
    return inet_pton(AF_INET, text, &a->sin_addr) == 1 ? sizeof *a : 0;
  }
  struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
  a->sin6_family = AF_INET6;
  a->sin6_port = htons((uint16_t)port);
  char buf[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
  const char *zone = strchr(text, '%');
  if (zone != NULL) {
    size_t n = (size_t)(zone - text);
    if (n >= sizeof buf) return 0;
    memcpy(buf, text, n);
    buf[n] = 0;
    text = buf;
    char *end;
    unsigned long idx = strtoul(zone + 1, &end, 10);
    a->sin6_scope_id = *end == 0 && end != zone + 1 ? (uint32_t)idx : if_nametoindex(zone + 1);
  }
  return inet_pton(AF_INET6, text, &a->sin6_addr) == 1 ? sizeof *a : 0;
}

static int same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b) {
  if (a->ss_family != b->ss_family) return 0;
  if (a->ss_family == AF_INET) return ((const struct sockaddr_in *)a)->sin_addr.s_addr == ((const struct sockaddr_in *)b)->sin_addr.s_addr;
  const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)a, *y = (const struct sockaddr_in6 *)b;
  return x->sin6_scope_id == y->sin6_scope_id && memcmp(&x->sin6_addr, &y->sin6_addr, sizeof x->sin6_addr) == 0;
}

static void deliver(sock_t *s, int count) {
  napi_env env = s->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  size_t total = 0;
  int kept = 0;
  for (int i = 0; i < count; i++) {
    // A datagram from port 0 cannot be answered (udp.ts drops it the same way).
    if (port_of(&s->in_addr[i]) != 0) total += s->in[i].msg_len;
  }
  napi_value fn, addresses, meta, data;
  unsigned char *bytes = NULL;
  size_t off = 0;
  napi_get_reference_value(env, s->on_batch, &fn);
  napi_get_reference_value(env, s->addresses, &addresses);
  napi_get_reference_value(env, s->meta, &meta);
  if (s->on_error == NULL && s->pool != NULL && s->pool_used + total <= s->pool_size) {
    napi_get_reference_value(env, s->pool, &data);
    bytes = s->pool_data;
    off = s->pool_used;
  } else {
    // A connected socket: this batch's bytes only. A listening one: a new pool (the previous one
    // lives on as long as a query still holds a view of it).
    int pooled = s->on_error == NULL;
    size_t size = pooled && total < POOL ? POOL : total;
    void *fresh = NULL;
    if (napi_create_buffer(env, size, &fresh, &data) != napi_ok) {
      napi_close_handle_scope(env, scope);
      return;
    }
    bytes = fresh;
    if (pooled) {
      if (s->pool != NULL) napi_delete_reference(env, s->pool);
      s->pool = NULL;
      if (napi_create_reference(env, data, 1, &s->pool) == napi_ok) {
        s->pool_data = bytes;
        s->pool_size = size;
      }
    }
  }
  int distinct = 0;
  const struct sockaddr_storage *prev = NULL;
  char text[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
  for (int i = 0; i < count; i++) {
    const struct sockaddr_storage *from = &s->in_addr[i];
    int port = port_of(from);
    if (port == 0) continue;
    unsigned len = s->in[i].msg_len;
    memcpy(bytes + off, s->slots + (size_t)i * SLOT, len);
    if (prev == NULL || !same_addr(prev, from)) {
      napi_value addr;
      if (s->last_text != NULL && same_addr(&s->last_addr, from)) {
        napi_get_reference_value(env, s->last_text, &addr);
      } else {
        size_t n = format_addr(from, text, sizeof text);
        napi_create_string_latin1(env, text, n, &addr);
        if (s->last_text != NULL) napi_delete_reference(env, s->last_text);
        napi_create_reference(env, addr, 1, &s->last_text);
        s->last_addr = *from;
      }
      napi_set_element(env, addresses, (uint32_t)distinct++, addr);
      prev = from;
    }
    int32_t *m = s->meta_data + (size_t)kept * META;
    m[0] = (int32_t)off;
    m[1] = (int32_t)len;
    m[2] = port;
    m[3] = distinct - 1;
    s->slot_of[kept] = i;
    off += len;
    kept++;
  }
  if (s->pool != NULL && bytes == s->pool_data) s->pool_used = off;
  if (kept > 0) {
    napi_value argv[4], result, global;
    napi_create_int32(env, kept, &argv[0]);
    argv[1] = data;
    argv[2] = addresses;
    argv[3] = meta;
    napi_get_global(env, &global);
    // make_callback: the microtasks the batch queued (promise continuations) run when it returns.
    if (napi_make_callback(env, s->async, global, fn, 4, argv, &result) == napi_pending_exception) {
      napi_value err;
      napi_get_and_clear_last_exception(env, &err);
      napi_fatal_exception(env, err);
    }
  }
  napi_close_handle_scope(env, scope);
}

// A connected socket's receive error (its peer's ICMP unreachable, ...) to connect()'s onError.
static void report_error(sock_t *s, int err) {
  napi_env env = s->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value fn, code, global, result;
  napi_get_reference_value(env, s->on_error, &fn);
  napi_create_string_utf8(env, uv_err_name(-err), NAPI_AUTO_LENGTH, &code);
  napi_get_global(env, &global);
  if (napi_make_callback(env, s->async, global, fn, 1, &code, &result) == napi_pending_exception) {
    napi_value e;
    napi_get_and_clear_last_exception(env, &e);
    napi_fatal_exception(env, e);
  }
  napi_close_handle_scope(env, scope);
}

static void on_readable(uv_poll_t *handle, int status, int events) {
  sock_t *s = (sock_t *)handle->data;
  (void)events;
  if (s->closing) return;
  if (status < 0) {
    // libuv stops the poll on POLLERR (a connected socket's pending ICMP error): the socket is done.
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err == 0) err = -status;
    s->errors++;
    s->last_error = err;
    if (s->on_error != NULL) report_error(s, err);
    return;
  }
  for (int round = 0; round < BATCHES_PER_EVENT && !s->closing; round++) {
    for (int i = 0; i < s->in_used; i++) s->in[i].msg_hdr.msg_namelen = sizeof s->in_addr[i];
    s->in_used = 0;
    int n = recvmmsg(s->fd, s->in, BATCH, MSG_DONTWAIT, NULL);
    if (n <= 0) {
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        s->errors++;
        s->last_error = errno;
        if (s->on_error != NULL) report_error(s, errno);
      }
      return;
    }
    s->in_used = n;
    s->received += n;
    s->batches++;
    deliver(s, n);
    if (n < BATCH) return;
  }
}

static void on_closed(uv_handle_t *handle) {
  sock_t *s = (sock_t *)handle->data;
  close(s->fd);
  napi_env env = s->env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value cb = NULL;
  if (s->close_cb != NULL) napi_get_reference_value(env, s->close_cb, &cb);
  napi_delete_reference(env, s->on_batch);
  napi_delete_reference(env, s->addresses);
  napi_delete_reference(env, s->meta);
  if (s->last_text != NULL) napi_delete_reference(env, s->last_text);
  if (s->on_error != NULL) napi_delete_reference(env, s->on_error);
  if (s->pool != NULL) napi_delete_reference(env, s->pool);
  if (s->close_cb != NULL) napi_delete_reference(env, s->close_cb);
  napi_async_destroy(env, s->async);
  if (cb != NULL) {
    napi_value global, result;
    napi_get_global(env, &global);
    napi_call_function(env, global, cb, 0, NULL, &result);
  }
  napi_close_handle_scope(env, scope);
  release(s);
}

static void start_close(sock_t *s) {
  if (s->closing) return;
  s->closing = 1;
  uv_poll_stop(&s->poll);
  uv_close((uv_handle_t *)&s->poll, on_closed);
}

static void finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  sock_t *s = (sock_t *)data;
  // Collected without close(): close now (the handle keeps the loop alive, so this is rare).
  start_close(s);
  release(s);
}

static napi_value js_open(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char host[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
  size_t hostlen;
  int32_t port, family, rcvbuf;
  if (argc < 5 || napi_get_value_string_utf8(env, argv[0], host, sizeof host, &hostlen) != napi_ok || napi_get_value_int32(env, argv[1], &port) != napi_ok ||
      napi_get_value_int32(env, argv[2], &family) != napi_ok || napi_get_value_int32(env, argv[3], &rcvbuf) != napi_ok || (family != 4 && family != 6) || port < 0 ||
      port > 65535) {
    napi_throw_type_error(env, NULL, "udp_batch.open(host, port, family 4|6, rcvbuf, onBatch)");
    return NULL;
  }
  struct sockaddr_storage ss;
  socklen_t len = parse_addr(family, host, port, &ss);
  if (len == 0) {
    throw_errno(env, "bind", EINVAL, host, port);
    return NULL;
  }
  int fd = socket(family == 4 ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    throw_errno(env, "socket", errno, host, port);
    return NULL;
  }
  int one = 1;
  if (family == 6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  // Not permitted in some sandboxes: the system default stays (as udp.ts).
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  if (bind(fd, (struct sockaddr *)&ss, len) < 0) {
    int err = errno;
    close(fd);
    throw_errno(env, "bind", err, host, port);
    return NULL;
  }
  sock_t *s = map_zeroed(sizeof *s);
  unsigned char *slots = map_zeroed((size_t)BATCH * SLOT);
  if (s == NULL || slots == NULL) {
    if (s != NULL) munmap(s, sizeof *s);
    if (slots != NULL) munmap(slots, (size_t)BATCH * SLOT);
    close(fd);
    napi_throw_error(env, "ENOMEM", "udp_batch: out of memory");
    return NULL;
  }
  s->env = env;
  s->fd = fd;
  s->family = family;
  s->slots = slots;
  s->refs = 2;
  for (int i = 0; i < BATCH; i++) {
    s->in_iov[i].iov_base = slots + (size_t)i * SLOT;
    s->in_iov[i].iov_len = SLOT;
    s->in[i].msg_hdr.msg_iov = &s->in_iov[i];
    s->in[i].msg_hdr.msg_iovlen = 1;
    s->in[i].msg_hdr.msg_name = &s->in_addr[i];
    s->in[i].msg_hdr.msg_namelen = sizeof s->in_addr[i];
  }
  for (int i = 0; i < SEND_MAX; i++) {
    s->out[i].msg_hdr.msg_iov = &s->out_iov[i];
    s->out[i].msg_hdr.msg_iovlen = 1;
    s->out[i].msg_hdr.msg_name = &s->out_addr[i];
  }
  napi_value addresses, ab, meta, name, handle;
  void *pd;
  CHECK(napi_create_array_with_length(env, BATCH, &addresses));
  CHECK(napi_create_arraybuffer(env, BATCH * META * sizeof(int32_t), &pd, &ab));
  s->meta_data = (int32_t *)pd;
  CHECK(napi_create_typedarray(env, napi_int32_array, BATCH * META, ab, 0, &meta));
  CHECK(napi_create_reference(env, argv[4], 1, &s->on_batch));
  CHECK(napi_create_reference(env, addresses, 1, &s->addresses));
  CHECK(napi_create_reference(env, meta, 1, &s->meta));
  CHECK(napi_create_string_utf8(env, "c2dns:udp-batch", NAPI_AUTO_LENGTH, &name));
  CHECK(napi_async_init(env, NULL, name, &s->async));
  uv_loop_t *loop;
  CHECK(napi_get_uv_event_loop(env, &loop));
  uv_poll_init(loop, &s->poll, fd);
  s->poll.data = s;
  uv_poll_start(&s->poll, UV_READABLE, on_readable);
  CHECK(napi_create_external(env, s, finalize, NULL, &handle));
  return handle;
}

static napi_value js_port(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], out;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  sock_t *s = get_sock(env, argv[0]);
  if (s == NULL) return NULL;
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  getsockname(s->fd, (struct sockaddr *)&ss, &len);
  CHECK(napi_create_int32(env, port_of(&ss), &out));
  return out;
}

// Sends datagrams [from, count) of the prepared out[] array; returns how many were not sent.
// A datagram the kernel refuses (EPERM from a firewall, unreachable) is counted and skipped; a
// full send buffer (EAGAIN) drops the rest of the batch: decided in issue 11 as a UDP answer the
// client retries, counted in `dropped`, rather than holding replies and the memory behind them.
static int send_prepared(sock_t *s, int count) {
  int failed = 0, i = 0;
  while (i < count) {
    int n = sendmmsg(s->fd, s->out + i, (unsigned)(count - i), MSG_DONTWAIT);
    s->send_calls++;
    if (n > 0) {
      s->sent += n;
      i += n;
      continue;
    }
    int err = errno;
    if (err == EINTR) continue;
    s->last_error = err;
    if (err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS) {
      s->dropped += count - i;
      return failed + (count - i);
    }
    s->errors++;
    failed++;
    i++;
  }
  return failed;
}

static napi_value js_send(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6], out;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  sock_t *s = get_sock(env, argv[0]);
  if (s == NULL) return NULL;
  int32_t count;
  int32_t *slots;
  size_t nslots;
  napi_typedarray_type type;
  CHECK(napi_get_value_int32(env, argv[1], &count));
  CHECK(napi_get_typedarray_info(env, argv[3], &type, &nslots, (void **)&slots, NULL, NULL));
  if (type != napi_int32_array || (size_t)count > nslots) {
    napi_throw_type_error(env, NULL, "udp_batch.send: slots must be an Int32Array of at least count entries");
    return NULL;
  }
  int failed = 0, prepared = 0;
  char text[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
  for (int32_t i = 0; i < count && !s->closing; i++) {
    napi_value b;
    void *data = NULL;
    size_t len = 0;
    socklen_t alen = 0;
    CHECK(napi_get_element(env, argv[2], (uint32_t)i, &b));
    if (napi_get_buffer_info(env, b, &data, &len) == napi_ok) {
      int32_t slot = slots[i];
      if (slot >= 0 && slot < s->in_used) {
        // An answer produced while its query's batch is handled: back to where the datagram came from.
        const struct sockaddr_storage *from = &s->in_addr[s->slot_of[slot]];
        alen = from->ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
        memcpy(&s->out_addr[prepared], from, alen);
      } else if (slot < 0) {
        napi_value a, p;
        size_t tlen;
        int32_t port;
        CHECK(napi_get_element(env, argv[4], (uint32_t)i, &a));
        CHECK(napi_get_element(env, argv[5], (uint32_t)i, &p));
        if (napi_get_value_string_latin1(env, a, text, sizeof text, &tlen) == napi_ok && napi_get_value_int32(env, p, &port) == napi_ok && port > 0 && port < 65536)
          alen = parse_addr(s->family, text, port, &s->out_addr[prepared]);
      }
    }
    if (alen == 0) {
      s->errors++;
      s->last_error = EINVAL;
      failed++;
      continue;
    }
    s->out_iov[prepared].iov_base = data;
    s->out_iov[prepared].iov_len = len;
    s->out[prepared].msg_hdr.msg_namelen = alen;
    if (++prepared == SEND_MAX) {
      failed += send_prepared(s, prepared);
      prepared = 0;
    }
  }
  if (prepared > 0 && !s->closing) failed += send_prepared(s, prepared);
  CHECK(napi_create_int32(env, failed, &out));
  return out;
}

static napi_value js_connect(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  sock_t *s = get_sock(env, argv[0]);
  if (s == NULL) return NULL;
  char host[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
  size_t hostlen;
  int32_t port;
  napi_valuetype fn_type = napi_undefined;
  if (argc < 4 || napi_get_value_string_utf8(env, argv[1], host, sizeof host, &hostlen) != napi_ok || napi_get_value_int32(env, argv[2], &port) != napi_ok ||
      napi_typeof(env, argv[3], &fn_type) != napi_ok || fn_type != napi_function || port <= 0 || port > 65535 || s->on_error != NULL) {
    napi_throw_type_error(env, NULL, "udp_batch.connect(handle, host, port 1-65535, onError), once");
    return NULL;
  }
  struct sockaddr_storage ss;
  socklen_t len = parse_addr(s->family, host, port, &ss);
  if (len == 0 || connect(s->fd, (struct sockaddr *)&ss, len) < 0) {
    throw_errno(env, "connect", len == 0 ? EINVAL : errno, host, port);
    return NULL;
  }
  CHECK(napi_create_reference(env, argv[3], 1, &s->on_error));
  uv_unref((uv_handle_t *)&s->poll);
  return NULL;
}

// One datagram to the connected peer with send(2), no address to pass or parse.
static napi_value js_write(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], out;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  sock_t *s = get_sock(env, argv[0]);
  if (s == NULL) return NULL;
  void *data = NULL;
  size_t len = 0;
  if (argc < 2 || napi_get_buffer_info(env, argv[1], &data, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "udp_batch.write(handle, buffer)");
    return NULL;
  }
  int err = 0;
  if (s->closing) err = EBADF;
  else {
    ssize_t n;
    do n = send(s->fd, data, len, MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    if (n < 0) err = errno;
  }
  s->send_calls++;
  if (err == 0) {
    s->sent++;
    CHECK(napi_create_int32(env, 0, &out));
  } else {
    s->errors++;
    s->last_error = err;
    CHECK(napi_create_string_utf8(env, uv_err_name(-err), NAPI_AUTO_LENGTH, &out));
  }
  return out;
}

static napi_value js_stats(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], out, v;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  sock_t *s = get_sock(env, argv[0]);
  if (s == NULL) return NULL;
  CHECK(napi_create_object(env, &out));
#define FIELD(name, value)                     \
  CHECK(napi_create_double(env, value, &v)); \
  CHECK(napi_set_named_property(env, out, name, v))
  FIELD("received", s->received);
  FIELD("batches", s->batches);
  FIELD("sent", s->sent);
  FIELD("sendCalls", s->send_calls);
  FIELD("dropped", s->dropped);
  FIELD("errors", s->errors);
  if (s->last_error != 0) {
    CHECK(napi_create_string_utf8(env, uv_err_name(-s->last_error), NAPI_AUTO_LENGTH, &v));
  } else {
    CHECK(napi_get_null(env, &v));
  }
  CHECK(napi_set_named_property(env, out, "lastError", v));
  return out;
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  sock_t *s = get_sock(env, argv[0]);
  if (s == NULL) return NULL;
  if (s->closing) {
    napi_throw_error(env, "ERR_SOCKET_DGRAM_NOT_RUNNING", "udp_batch: socket already closed");
    return NULL;
  }
  if (argc >= 2) CHECK(napi_create_reference(env, argv[1], 1, &s->close_cb));
  start_close(s);
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"open", NULL, js_open, NULL, NULL, NULL, napi_enumerable, NULL},
    {"port", NULL, js_port, NULL, NULL, NULL, napi_enumerable, NULL},
    {"send", NULL, js_send, NULL, NULL, NULL, napi_enumerable, NULL},
    {"stats", NULL, js_stats, NULL, NULL, NULL, napi_enumerable, NULL},
    {"close", NULL, js_close, NULL, NULL, NULL, napi_enumerable, NULL},
    {"connect", NULL, js_connect, NULL, NULL, NULL, napi_enumerable, NULL},
    {"write", NULL, js_write, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
