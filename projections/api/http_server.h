// A small asynchronous HTTP/1.1 server (Boost.Beast over Asio, real TCP sockets) that knows
// nothing about usage: routes with "{name}" path segments, JSON errors, keep-alive, a body limit
// (413, judged from Content-Length before the body is read, and while a chunked body grows),
// 400 for malformed requests, 404 / 405, 500 for a handler that throws (logged; the server
// goes on). Every response has Content-Length, Cache-Control: no-store and the security headers
// of security_headers.h (CSP, nosniff, no-referrer, CORS for allowed origins); OPTIONS on a
// known path answers a CORS preflight (204). `Expect: 100-continue`
// is answered 100 Continue once the headers passed those checks. At most max_connections are
// open at once (see HttpServerOptions: accepting pauses and resumes). Every response is counted
// by route pattern and status with its latency (request_metrics(), for /metrics).
// Threading: `threads` Asio threads; each connection is served on its own strand. Handlers run
// on those threads and must be thread-safe; an async handler may reply from any thread, once
// (a second reply, or one after stop(), is dropped).
// Lifecycle: start() binds and starts serving at once; add every route after start() and before
// the first request (route() is not synchronised with requests). stop() (or the destructor)
// stops the threads, closes every connection and joins; never call it from a handler.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "projections/api/http_metrics.h"
#include "schemas/result.h"

namespace ul {

struct HttpRequest {
    std::string method;  // "GET", "POST", …
    std::string path;    // without the query string, percent-decoded
    // The path's segments, each percent-decoded on its own (an encoded '/' stays inside its
    // segment): what routes match.
    std::vector<std::string> segments;
    std::vector<std::pair<std::string, std::string>> query;  // decoded, in order
    std::string body;
    std::string content_type;
    std::string authorization;
    std::string remote;  // "ip:port"
    // Every header as received (names as sent), for routes that need one of their own
    // (Stripe-Signature).
    std::vector<std::pair<std::string, std::string>> headers;
    std::optional<std::string_view> query_param(std::string_view name) const;  // first match
    std::optional<std::string_view> header(std::string_view name) const;       // case-insensitive
};

struct HttpResponse {
    int status = 200;
    std::string content_type = "application/json";
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;  // extra, e.g. Retry-After
};

// A request target ("/v1/tenants/a%2Fb/usage?from=x&wait") read into `request`: path (without
// the query, percent-decoded), segments (split raw, each decoded on its own: an encoded '/'
// stays inside its segment) and query (pairs in order, '+' a space). Pure; what the server does
// with every request it parsed. bad_path: the path has a bad percent-escape or does not start
// with '/' (nothing filled); bad_query: a bad escape in the query (path and segments filled).
enum class RequestTargetError : std::uint8_t { none, bad_path, bad_query };
RequestTargetError parse_request_target(std::string_view target, HttpRequest& request);

// {"error":code,"detail":detail}
// Always valid JSON: bytes of `code` and `detail` that are not UTF-8 become U+FFFD.
HttpResponse json_error(int status, std::string_view code, std::string_view detail);

// A handler without path parameters. Called on an Asio thread; may block briefly (e.g. a RocksDB
// read). The async form is for handlers that must wait (e.g. until a ledger commit): they call
// `reply` exactly once, from any thread.
using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;
using HttpAsyncHandler =
    std::function<void(const HttpRequest&, std::function<void(HttpResponse)> reply)>;

using HttpParams = std::map<std::string, std::string>;
using HttpRouteHandler = std::function<HttpResponse(const HttpRequest&, const HttpParams&)>;
using HttpReply = std::function<void(HttpResponse)>;
using HttpAsyncRouteHandler =
    std::function<void(const HttpRequest&, const HttpParams&, const HttpReply& reply)>;

struct HttpServerOptions {
    std::string listen = "127.0.0.1:8080";   // host:port; port 0 = any free port
    std::size_t max_body_bytes = 1U << 20U;  // larger: 413 {"error":"request_too_large",…}
    std::size_t threads = 1;
    std::chrono::seconds idle_timeout{30};
    // Connections open at once. A connection accepted past the limit closes the connection that
    // has waited longest for a request (an idle keep-alive connection, or one that has not sent
    // a whole header yet), so idle connections never lock clients such as /healthz out
    // (idle_closed_total(); at most max_connections + 1 are open for that moment). Only when
    // every connection is busy with a request does the server stop accepting (new connections
    // wait in the kernel's listen backlog, not refused) until one waits for a request again or
    // closes. start() lowers it to half the process's soft
    // RLIMIT_NOFILE when that is smaller, leaving the other half to RocksDB, Kafka and logs.
    // When accept() still fails for want of descriptors or memory (EMFILE, ENFILE, ENOBUFS,
    // ENOMEM: other parts of the process used them), accepting pauses for
    // `accept_retry_delay` (or until a connection closes) instead of retrying at once.
    // Either pause is counted (accept_paused_total()) and logged at most once a second.
    std::size_t max_connections = 1000;
    // true: start() binds and listens but accepts nothing until start_accepting(), so that no
    // client meets a server whose routes are not all installed yet (it would answer 404).
    // Connections made meanwhile wait in the listen backlog.
    bool defer_accepting = false;
    std::chrono::milliseconds accept_retry_delay{100};
    // Headers on every answer (security_headers.h): origins answered with
    // Access-Control-Allow-Origin (exact match; empty: no CORS) and the CSP frame-ancestors
    // sources (empty: 'none'). OPTIONS on a path with routes is a CORS preflight (204).
    std::vector<std::string> cors_origins;
    std::vector<std::string> frame_ancestors;
};

class HttpServer {
  public:
    // Binds and listens; errors name the address ("cannot listen on 127.0.0.1:8080: …").
    static Result<std::unique_ptr<HttpServer>, std::string> start(HttpServerOptions options);
    ~HttpServer();  // stops and joins
    HttpServer(const HttpServer&) = delete;
    HttpServer& operator=(const HttpServer&) = delete;

    std::string address() const;  // "127.0.0.1:41234": the bound port
    // Exact method + path pattern; a "{name}" segment captures one path segment into the params.
    // Unknown path: 404; known path, another method: 405 with Allow. Before traffic only.
    void route(std::string method, std::string pattern, HttpRouteHandler handler);
    void route_async(std::string method, const std::string& pattern, HttpAsyncRouteHandler handler);
    void stop();

    // Times accepting paused: at max_connections, or accept() out of descriptors or memory.
    std::uint64_t accept_paused_total() const;
    // With defer_accepting: begins accepting (once every route is installed). Thread-safe.
    void start_accepting();
    // Idle connections closed to admit a new one at max_connections.
    std::uint64_t idle_closed_total() const;
    std::size_t open_connections() const;  // accepted and not yet closed
    std::size_t max_connections() const;   // the limit in force (after start() lowered it)
    // Requests answered, by route pattern and status, and their latency (for /metrics).
    const HttpMetrics& request_metrics() const;

    struct Impl;

  private:
    HttpServer() = default;
    std::unique_ptr<Impl> impl_;
};

}  // namespace ul
