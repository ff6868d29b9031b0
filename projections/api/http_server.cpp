#include "projections/api/http_server.h"

#include <spdlog/spdlog.h>

#include <array>
#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cstdint>
#include <map>
#include <mutex>
#include <thread>

#include <sys/resource.h>

#include "projections/api/http_metrics.h"
#include "projections/api/security_headers.h"
#include "schemas/canonical.h"
#include "schemas/text.h"

namespace ul {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

int hex_value(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

// Percent-decoding; '+' is a space in query components. nullopt on a bad escape.
std::optional<std::string> decode(std::string_view text, bool query) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t index = 0; index < text.size(); ++index) {
        const char c = text[index];
        if (c == '%') {
            if (index + 2 >= text.size()) {
                return std::nullopt;
            }
            const int high = hex_value(text[index + 1]);
            const int low = hex_value(text[index + 2]);
            if (high < 0 || low < 0) {
                return std::nullopt;
            }
            out.push_back(static_cast<char>(high * 16 + low));
            index += 2;
        } else if (c == '+' && query) {
            out.push_back(' ');
        } else {
            out.push_back(c);
        }
    }
    return out;
}

struct Route {
    std::string method;
    std::vector<std::string> pattern;  // raw segments; "{name}" captures
    HttpAsyncRouteHandler handler;
};

}  // namespace

RequestTargetError parse_request_target(std::string_view target, HttpRequest& request) {
    const auto question = target.find('?');
    // Routed on raw segments, each decoded on its own: an encoded '/' stays inside its
    // segment (and is then part of a tenant id, which refuses it).
    const std::string_view raw_path = target.substr(0, question);
    auto path = decode(raw_path, false);
    if (!path || path->empty() || path->front() != '/') {
        return RequestTargetError::bad_path;
    }
    std::vector<std::string> segments;
    for (const std::string& segment : split_path(raw_path)) {
        auto decoded = decode(segment, false);
        if (!decoded) {
            return RequestTargetError::bad_path;
        }
        segments.push_back(std::move(*decoded));
    }
    request.segments = std::move(segments);
    request.path = std::move(*path);
    if (question == std::string_view::npos) {
        return RequestTargetError::none;
    }
    std::string_view rest = target.substr(question + 1);
    while (!rest.empty()) {
        const auto amp = rest.find('&');
        const std::string_view pair = rest.substr(0, amp);
        rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
        if (pair.empty()) {
            continue;
        }
        const auto equals = pair.find('=');
        auto key = decode(pair.substr(0, equals), true);
        auto value = decode(
            equals == std::string_view::npos ? std::string_view() : pair.substr(equals + 1), true);
        if (!key || !value) {
            return RequestTargetError::bad_query;
        }
        request.query.emplace_back(std::move(*key), std::move(*value));
    }
    return RequestTargetError::none;
}

std::optional<std::string_view> HttpRequest::query_param(std::string_view name) const {
    for (const auto& [key, value] : query) {
        if (key == name) {
            return std::string_view(value);
        }
    }
    return std::nullopt;
}

std::optional<std::string_view> HttpRequest::header(std::string_view name) const {
    auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
    for (const auto& [key, value] : headers) {
        if (key.size() == name.size() &&
            std::equal(key.begin(), key.end(), name.begin(),
                       [&](char a, char b) { return lower(a) == lower(b); })) {
            return std::string_view(value);
        }
    }
    return std::nullopt;
}

HttpResponse json_error(int status, std::string_view code, std::string_view detail) {
    HttpResponse response;
    response.status = status;
    response.body = "{\"error\":";
    append_json_string(response.body, valid_utf8(code));
    response.body += ",\"detail\":";
    append_json_string(response.body, valid_utf8(detail));
    response.body += "}";
    return response;
}

namespace {
class Session;
}  // namespace

// Replies of async handlers may come from any thread, at any time, even after stop(): they reach
// a session only through the gate, which holds the sessions awaiting a reply and is closed (under
// its mutex) before the io_context is destroyed. So a late reply is dropped, never posted to a
// dead io_context, and no session outlives the io_context its socket belongs to.
struct ReplyGate {
    std::mutex mutex;
    bool open = true;
    std::uint64_t next_request = 0;  // keys `awaiting`: a stale reply never answers a later request
    std::map<std::uint64_t, std::shared_ptr<Session>> awaiting;
};

struct HttpServer::Impl {
    HttpServerOptions options;
    std::unique_ptr<asio::io_context> io = std::make_unique<asio::io_context>();
    std::optional<tcp::acceptor> acceptor{std::in_place, *io};
    // Accepting stops at max_connections or when accept() is out of descriptors; at most one
    // async_accept is outstanding, and only while `accepting` is running (all under
    // accept_mutex; the timer is touched only by on_accept, which never runs twice at once).
    enum class Accepting : std::uint8_t { running, at_limit, out_of_descriptors };
    mutable std::mutex accept_mutex;
    Accepting accepting = Accepting::running;
    std::size_t open_connections = 0;
    std::uint64_t accept_paused_total = 0;
    // Connections waiting for a request's header (keep-alive between requests, or a client that
    // connected and sent nothing whole yet), by when they began to wait: at max_connections the
    // longest waiting one is closed to admit the new one (e.g. /healthz), so idle connections
    // never lock the server out. Under accept_mutex.
    std::map<std::uint64_t, std::weak_ptr<Session>> waiting_sessions;
    std::uint64_t next_wait = 1;
    std::uint64_t idle_closed_total = 0;
    std::optional<std::chrono::steady_clock::time_point> last_accept_log;
    std::optional<asio::steady_timer> accept_retry_timer{std::in_place, *io};
    // Keeps the threads running while nothing is pending: every connection awaiting an async
    // handler's reply and accepting paused at the limit (the reply is posted later). stop() ends
    // them with io->stop().
    std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
    std::vector<std::thread> threads;
    std::vector<Route> routes;
    HttpMetrics metrics;  // every answered request, by route pattern
    std::atomic<bool> stopped{false};
    std::string address;
    std::shared_ptr<ReplyGate> gate = std::make_shared<ReplyGate>();

    void accept();
    void on_accept(beast::error_code error, tcp::socket socket);
    void pause_accepting(Accepting why, const std::string& reason);  // accept_mutex held
    bool may_log_accept_problem();                                   // accept_mutex held
    // by ~Session (`waiting`: its entry in waiting_sessions, 0 if none): resumes accepting paused
    // at the limit
    void connection_closed(std::uint64_t waiting);
    // A session begins (returns its key) or ends waiting for a request's header. `after_request`:
    // it answered one (not its first wait, right after accept): accepting paused because every
    // connection was busy resumes, since this one can now make room.
    std::uint64_t begin_waiting(const std::shared_ptr<Session>& session, bool after_request);
    void end_waiting(std::uint64_t waiting);
    // At the limit: the longest waiting session, taken off the list (the caller closes it once
    // accept_mutex is released); null when none waits.
    std::shared_ptr<Session> take_longest_waiting();  // accept_mutex held
    // Routes `request`; calls `reply` exactly once.
    void dispatch(const HttpRequest& request, const HttpReply& reply) const;
};

namespace {

class Session : public std::enable_shared_from_this<Session> {
  public:
    Session(tcp::socket socket, HttpServer::Impl& server)
        : stream_(std::move(socket)), server_(server) {}
    ~Session() { server_.connection_closed(waiting_); }
    // Closes the connection while it waits for a request (the server is at its limit).
    void close_idle() {
        asio::dispatch(stream_.get_executor(), [self = shared_from_this()] {
            beast::error_code ignored;
            self->stream_.socket().close(ignored);  // the pending read ends: operation_aborted
        });
    }
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    void start() {
        asio::dispatch(stream_.get_executor(),
                       beast::bind_front_handler(&Session::read, shared_from_this()));
    }

  private:
    void read() {
        route_ = HttpMetrics::kOther;
        origin_.reset();
        parser_.emplace();
        parser_->body_limit(server_.options.max_body_bytes);
        parser_->header_limit(16U * 1024U);
        stream_.expires_after(server_.options.idle_timeout);
        waiting_ = server_.begin_waiting(shared_from_this(), answered_ > 0);
        http::async_read_header(stream_, buffer_, *parser_,
                                beast::bind_front_handler(&Session::on_header, shared_from_this()));
    }

    void on_header(beast::error_code error, std::size_t /*bytes*/) {
        server_.end_waiting(waiting_);
        waiting_ = 0;
        started_ = std::chrono::steady_clock::now();  // for a request refused before its body
        if (error) {
            fail(error);
            return;
        }
        const auto coding = parser_->get()[http::field::transfer_encoding];
        if (!coding.empty() && !beast::iequals(coding, "chunked")) {
            send(json_error(501, "not_implemented",
                            "Transfer-Encoding " + std::string(coding) +
                                " is not supported (only chunked)"),
                 false);
            return;
        }
        const auto length = parser_->content_length();
        if (length && *length > server_.options.max_body_bytes) {
            send(json_error(413, "request_too_large",
                            "the body is " + std::to_string(*length) + " bytes; at most " +
                                std::to_string(server_.options.max_body_bytes)),
                 false);
            return;
        }
        // A client that sent `Expect: 100-continue` waits for this before it sends the body.
        if (parser_->get().version() >= 11 &&
            beast::iequals(parser_->get()[http::field::expect], "100-continue")) {
            static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
            asio::async_write(
                stream_, asio::buffer(kContinue.data(), kContinue.size()),
                [self = shared_from_this()](beast::error_code write_error, std::size_t /*bytes*/) {
                    if (write_error) {
                        self->close();
                        return;
                    }
                    self->read_body();
                });
            return;
        }
        read_body();
    }

    void read_body() {
        http::async_read(stream_, buffer_, *parser_,
                         beast::bind_front_handler(&Session::on_read, shared_from_this()));
    }

    void fail(beast::error_code error) {
        if (error == http::error::end_of_stream || error == asio::error::eof ||
            error == asio::error::connection_reset || error == beast::error::timeout ||
            error == asio::error::operation_aborted) {
            close();
            return;
        }
        if (error == http::error::header_limit) {
            send(json_error(431, "headers_too_large",
                            "the request's headers are larger than 16384 bytes"),
                 false);
            return;
        }
        if (error == http::error::body_limit) {
            send(json_error(413, "request_too_large",
                            "the body is larger than " +
                                std::to_string(server_.options.max_body_bytes) + " bytes"),
                 false);
            return;
        }
        // Anything else the parser refused: a malformed request.
        send(json_error(400, "bad_request", "malformed HTTP request: " + error.message()), false);
    }

    void on_read(beast::error_code error, std::size_t /*bytes*/) {
        if (error) {
            fail(error);
            return;
        }
        started_ = std::chrono::steady_clock::now();
        auto message = parser_->release();
        keep_alive_ = message.keep_alive();
        HttpRequest request;
        request.method = std::string(message.method_string());
        const std::string_view target(message.target().data(), message.target().size());
        const RequestTargetError target_error = parse_request_target(target, request);
        if (target_error == RequestTargetError::bad_path) {
            send(json_error(400, "bad_request", "the request target is not a valid path"), false);
            return;
        }
        route_ = server_.metrics.route_of(request.segments);
        head_ = request.method == "HEAD";
        if (target_error == RequestTargetError::bad_query) {
            send(json_error(400, "bad_request", "a bad percent-escape in the query"), false);
            return;
        }
        request.content_type = std::string(message[http::field::content_type]);
        request.authorization = std::string(message[http::field::authorization]);
        for (const auto& field : message) {
            request.headers.emplace_back(std::string(field.name_string()),
                                         std::string(field.value()));
        }
        if (const auto origin = request.header("Origin")) {
            origin_ = std::string(*origin);
        }
        beast::error_code ignored;
        const auto endpoint = stream_.socket().remote_endpoint(ignored);
        request.remote = endpoint.address().to_string() + ":" + std::to_string(endpoint.port());
        request.body = std::move(message.body());
        // Until the reply, only the gate keeps this session alive (no operation is pending).
        const std::shared_ptr<ReplyGate> gate = server_.gate;
        std::uint64_t key = 0;
        {
            std::lock_guard lock(gate->mutex);
            key = gate->next_request++;
            gate->awaiting.emplace(key, shared_from_this());
        }
        server_.dispatch(request, [gate, key](HttpResponse response) {
            // Everything that touches the session or its executor stays under the
            // mutex, so no reference to either is dropped on this thread after
            // stop() destroyed the io_context.
            std::lock_guard lock(gate->mutex);
            const auto found = gate->awaiting.find(key);
            if (!gate->open || found == gate->awaiting.end()) {
                return;  // a second reply, or one after stop(): dropped
            }
            std::shared_ptr<Session> session = std::move(found->second);
            gate->awaiting.erase(found);
            const auto executor = session->stream_.get_executor();
            asio::post(executor,
                       [session = std::move(session), response = std::move(response)]() mutable {
                           session->send(std::move(response), session->keep_alive_);
                       });
        });
    }

    void send(HttpResponse response, bool keep_alive) {
        const auto elapsed = std::chrono::duration_cast<std::chrono::microseconds>(
            std::chrono::steady_clock::now() - started_);
        server_.metrics.observe(
            route_, response.status,
            static_cast<std::uint64_t>(std::max<std::int64_t>(0, elapsed.count())));
        add_security_headers(server_.options.cors_origins, server_.options.frame_ancestors, origin_,
                             response);
        auto message = std::make_shared<http::response<http::string_body>>(
            static_cast<http::status>(response.status), 11);
        message->set(http::field::server, "usage-ledger");
        message->set(http::field::content_type, response.content_type);
        message->set(http::field::cache_control, "no-store");
        for (const auto& [name, value] : response.headers) {
            message->set(name, value);
        }
        message->body() = std::move(response.body);
        message->keep_alive(keep_alive);
        message->prepare_payload();
        if (head_) {  // the GET's headers, Content-Length included, and no body
            message->body().clear();
            head_ = false;
        }
        stream_.expires_after(server_.options.idle_timeout);
        http::async_write(stream_, *message,
                          [self = shared_from_this(), message, keep_alive](beast::error_code error,
                                                                           std::size_t /*bytes*/) {
                              if (error || !keep_alive || self->server_.stopped.load()) {
                                  self->close();
                                  return;
                              }
                              ++self->answered_;
                              self->read();
                          });
    }

    // Lingering close: after our last response, stop sending and discard what the client still
    // sends (e.g. the rest of a refused 413 body) for a short while, so that closing does not
    // reset the connection before the client has read the response.
    void close() {
        beast::error_code ignored;
        stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
        stream_.expires_after(std::chrono::seconds(2));
        drain();
    }

    void drain() {
        stream_.async_read_some(asio::buffer(scratch_), [self = shared_from_this()](
                                                            beast::error_code error,
                                                            std::size_t bytes) {
            self->drained_ += bytes;
            if (error || self->drained_ > 2 * self->server_.options.max_body_bytes + (1U << 20U)) {
                beast::error_code ignored;
                self->stream_.socket().close(ignored);
                return;
            }
            self->drain();
        });
    }

    beast::tcp_stream stream_;
    HttpServer::Impl& server_;
    beast::flat_buffer buffer_;
    std::optional<http::request_parser<http::string_body>> parser_;
    bool keep_alive_ = false;
    bool head_ = false;                  // the request being answered is a HEAD
    std::optional<std::string> origin_;  // the request's Origin header, for CORS
    // The request being answered, for HttpMetrics: its route pattern's index (kOther until
    // routed) and when it was read (headers, then again once the body is in).
    std::size_t route_ = HttpMetrics::kOther;
    std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
    std::array<char, 16384> scratch_{};
    std::size_t drained_ = 0;
    std::uint64_t waiting_ = 0;   // the key in server_.waiting_sessions while waiting, else 0
    std::uint64_t answered_ = 0;  // requests answered on this connection
};

}  // namespace

void HttpServer::Impl::accept() {
    acceptor->async_accept(asio::make_strand(*io),
                           [this](beast::error_code error, tcp::socket socket) {
                               on_accept(error, std::move(socket));
                           });
}

namespace {

// accept() failed for want of descriptors or memory: retrying at once would fail again.
bool out_of_resources(const beast::error_code& error) {
    return error == asio::error::no_descriptors || error == asio::error::no_buffer_space ||
           error == asio::error::no_memory ||
           error == beast::error_code(ENFILE, boost::system::system_category());
}

}  // namespace

void HttpServer::Impl::on_accept(beast::error_code error, tcp::socket socket) {
    if (stopped.load() || error == asio::error::operation_aborted) {
        return;
    }
    if (!error) {
        bool again = true;
        std::shared_ptr<Session> idle;  // closed to make room
        {
            std::lock_guard lock(accept_mutex);
            ++open_connections;
            // Past the limit, the connection that waited longest for a request makes room for
            // this one; at the limit with none waiting, accepting pauses until one waits or
            // closes. So at most max_connections + 1 are open, for a moment.
            if (open_connections > options.max_connections) {
                idle = take_longest_waiting();
                if (idle && may_log_accept_problem()) {
                    spdlog::warn(
                        "http: at max_connections {}: closing the connection idle the "
                        "longest to admit a new one ({} so far; logged at most once a "
                        "second)",
                        options.max_connections, idle_closed_total);
                }
            }
            if (open_connections >= options.max_connections && waiting_sessions.empty()) {
                pause_accepting(Accepting::at_limit,
                                "max_connections reached and every connection is busy");
                again = false;
            }
        }
        if (idle) {
            idle->close_idle();
        }
        std::make_shared<Session>(std::move(socket), *this)->start();
        if (again) {
            accept();
        }
        return;
    }
    if (out_of_resources(error)) {
        std::lock_guard lock(accept_mutex);
        pause_accepting(Accepting::out_of_descriptors, error.message());
        accept_retry_timer->expires_after(options.accept_retry_delay);
        accept_retry_timer->async_wait([this](beast::error_code timer_error) {
            if (timer_error || stopped.load()) {
                return;
            }
            {
                std::lock_guard inner(accept_mutex);
                if (accepting != Accepting::out_of_descriptors) {
                    return;  // a closed connection resumed accepting already
                }
                accepting = Accepting::running;
            }
            accept();
        });
        return;
    }
    {
        std::lock_guard lock(accept_mutex);
        if (may_log_accept_problem()) {
            spdlog::warn("http: accept: {}", error.message());
        }
    }
    accept();
}

bool HttpServer::Impl::may_log_accept_problem() {
    const auto now = std::chrono::steady_clock::now();
    if (last_accept_log && now - *last_accept_log < std::chrono::seconds(1)) {
        return false;
    }
    last_accept_log = now;
    return true;
}

void HttpServer::Impl::pause_accepting(Accepting why, const std::string& reason) {
    UL_CHECK(accepting == Accepting::running, "accepting paused twice");
    accepting = why;
    ++accept_paused_total;
    if (may_log_accept_problem()) {
        spdlog::warn(
            "http: not accepting connections for now: {} ({} open, max_connections {}); resumes "
            "when a connection closes{} (paused {} times so far; logged at most once a second)",
            reason, open_connections, options.max_connections,
            why == Accepting::out_of_descriptors ? " or after a short delay" : "",
            accept_paused_total);
    }
}

std::uint64_t HttpServer::Impl::begin_waiting(const std::shared_ptr<Session>& session,
                                              bool after_request) {
    std::uint64_t key = 0;
    {
        std::lock_guard lock(accept_mutex);
        key = next_wait++;
        waiting_sessions.emplace(key, session);
        if (!after_request || stopped.load() || accepting != Accepting::at_limit) {
            return key;
        }
        accepting = Accepting::running;
    }
    asio::post(*io, [this] {
        if (!stopped.load()) {
            accept();
        }
    });
    return key;
}

void HttpServer::Impl::end_waiting(std::uint64_t waiting) {
    std::lock_guard lock(accept_mutex);
    waiting_sessions.erase(waiting);
}

std::shared_ptr<Session> HttpServer::Impl::take_longest_waiting() {
    while (!waiting_sessions.empty()) {
        const auto oldest = waiting_sessions.begin();
        std::shared_ptr<Session> session = oldest->second.lock();
        waiting_sessions.erase(oldest);
        if (session) {
            ++idle_closed_total;
            return session;
        }
    }
    return nullptr;
}

void HttpServer::Impl::connection_closed(std::uint64_t waiting) {
    {
        std::lock_guard lock(accept_mutex);
        waiting_sessions.erase(waiting);
        UL_CHECK(open_connections > 0, "a connection closed that was never counted");
        --open_connections;
        if (stopped.load() || accepting == Accepting::running ||
            open_connections >= options.max_connections) {
            return;
        }
        accepting = Accepting::running;
    }
    asio::post(*io, [this] {
        if (!stopped.load()) {
            accept();
        }
    });
}

void HttpServer::Impl::dispatch(const HttpRequest& request, const HttpReply& reply) const {
    const auto& segments = request.segments;
    // HEAD is GET without the body (the session drops it, keeping Content-Length).
    const std::string_view method =
        request.method == "HEAD" ? std::string_view("GET") : std::string_view(request.method);
    std::string allowed;
    for (const auto& route : routes) {
        HttpParams params;
        if (!match_path(route.pattern, segments, &params)) {
            continue;
        }
        if (route.method != method) {
            allowed += (allowed.empty() ? "" : ", ") + route.method;
            if (route.method == "GET") {
                allowed += ", HEAD";
            }
            continue;
        }
        try {
            route.handler(request, params, reply);
        } catch (const std::exception& error) {
            spdlog::error("http: {} {}: handler failed: {}", request.method, request.path,
                          error.what());
            reply(json_error(500, "internal", "the server failed to answer; see its log"));
        } catch (...) {
            spdlog::error("http: {} {}: handler failed with a non-standard exception",
                          request.method, request.path);
            reply(json_error(500, "internal", "the server failed to answer; see its log"));
        }
        return;
    }
    if (!allowed.empty() && request.method == "OPTIONS") {
        reply(preflight_answer(options.cors_origins, request.header("Origin"), allowed));
        return;
    }
    if (!allowed.empty()) {
        HttpResponse response = json_error(405, "method_not_allowed",
                                           request.method + " is not allowed on " + request.path);
        response.headers.emplace_back("Allow", allowed);
        reply(std::move(response));
        return;
    }
    reply(json_error(404, "not_found", "no route for " + request.method + " " + request.path));
}

Result<std::unique_ptr<HttpServer>, std::string> HttpServer::start(HttpServerOptions options) {
    std::unique_ptr<HttpServer> server(new HttpServer());
    server->impl_ = std::make_unique<Impl>();
    Impl& impl = *server->impl_;
    impl.options = std::move(options);
    const std::string& listen = impl.options.listen;
    const auto colon = listen.rfind(':');
    if (colon == std::string::npos || colon == 0) {
        return unexpected("--listen must be host:port, not '" + listen + "'");
    }
    beast::error_code error;
    const auto address = asio::ip::make_address(listen.substr(0, colon), error);
    if (error) {
        return unexpected("cannot listen on " + listen + ": '" + listen.substr(0, colon) +
                          "' is not an IP address");
    }
    int port = -1;
    try {
        std::size_t used = 0;
        port = std::stoi(listen.substr(colon + 1), &used);
        if (used != listen.size() - colon - 1) {
            port = -1;
        }
    } catch (const std::exception&) {
        port = -1;
    }
    if (port < 0 || port > 65535) {
        return unexpected("cannot listen on " + listen + ": the port must be 0-65535");
    }
    if (impl.options.max_connections == 0) {
        return unexpected(std::string("max_connections must be at least 1"));
    }
    rlimit files{};
    if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur != RLIM_INFINITY &&
        files.rlim_cur / 2 < impl.options.max_connections) {
        const auto lowered = std::max<std::size_t>(1, files.rlim_cur / 2);
        spdlog::info("http: max_connections {} lowered to {}: half the open-files limit {}",
                     impl.options.max_connections, lowered, files.rlim_cur);
        impl.options.max_connections = lowered;
    }
    const tcp::endpoint endpoint(address, static_cast<unsigned short>(port));
    impl.acceptor->open(endpoint.protocol(), error);
    if (!error) {
        impl.acceptor->set_option(asio::socket_base::reuse_address(true), error);
    }
    if (!error) {
        impl.acceptor->bind(endpoint, error);
    }
    if (!error) {
        impl.acceptor->listen(asio::socket_base::max_listen_connections, error);
    }
    if (error) {
        return unexpected("cannot listen on " + listen + ": " + error.message());
    }
    const auto bound = impl.acceptor->local_endpoint();
    impl.address = bound.address().to_string() + ":" + std::to_string(bound.port());
    if (!impl.options.defer_accepting) {
        server->start_accepting();
    }
    return server;
}

HttpServer::~HttpServer() {
    stop();
}

std::string HttpServer::address() const {
    return impl_->address;
}

void HttpServer::start_accepting() {
    // The threads start with the first accept pending and the work guard held.
    Impl& impl = *impl_;
    UL_CHECK(impl.threads.empty(), "start_accepting called twice");
    impl.accept();
    impl.work.emplace(impl.io->get_executor());
    for (std::size_t index = 0; index < std::max<std::size_t>(1, impl.options.threads); ++index) {
        impl.threads.emplace_back([&impl] { impl.io->run(); });
    }
}

std::uint64_t HttpServer::idle_closed_total() const {
    std::lock_guard lock(impl_->accept_mutex);
    return impl_->idle_closed_total;
}

std::uint64_t HttpServer::accept_paused_total() const {
    std::lock_guard lock(impl_->accept_mutex);
    return impl_->accept_paused_total;
}

std::size_t HttpServer::open_connections() const {
    std::lock_guard lock(impl_->accept_mutex);
    return impl_->open_connections;
}

std::size_t HttpServer::max_connections() const {
    return impl_->options.max_connections;
}

const HttpMetrics& HttpServer::request_metrics() const {
    return impl_->metrics;
}

// NOLINTNEXTLINE(performance-unnecessary-value-param): the signature the endpoints are written to
void HttpServer::route(std::string method, std::string pattern, HttpRouteHandler handler) {
    route_async(std::move(method), pattern,
                [handler = std::move(handler)](const HttpRequest& request, const HttpParams& params,
                                               const HttpReply& reply) {
                    reply(handler(request, params));
                });
}

void HttpServer::route_async(std::string method, const std::string& pattern,
                             HttpAsyncRouteHandler handler) {
    impl_->metrics.add_route(pattern);
    impl_->routes.push_back(Route{std::move(method), split_path(pattern), std::move(handler)});
}

void HttpServer::stop() {
    if (!impl_ || impl_->stopped.exchange(true)) {
        return;
    }
    for (const auto& thread : impl_->threads) {
        UL_CHECK(thread.get_id() != std::this_thread::get_id(),
                 "HttpServer::stop() called from one of its own threads (a handler)");
    }
    {
        std::lock_guard lock(impl_->gate->mutex);
        impl_->gate->open = false;
    }
    impl_->io->stop();
    for (auto& thread : impl_->threads) {
        thread.join();
    }
    impl_->threads.clear();
    impl_->work.reset();
    // No thread runs the io_context now. Sessions awaiting a reply go first, then the listening
    // socket, then the io_context with every pending operation: each connection is closed, so a
    // connected client sees the end of the stream instead of waiting for the destructor.
    std::map<std::uint64_t, std::shared_ptr<Session>> awaiting;
    {
        std::lock_guard lock(impl_->gate->mutex);
        awaiting.swap(impl_->gate->awaiting);
    }
    awaiting.clear();
    impl_->accept_retry_timer.reset();
    impl_->acceptor.reset();
    impl_->io.reset();
}

}  // namespace ul
