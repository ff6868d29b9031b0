// HttpServer over real TCP sockets on 127.0.0.1:0, driven by a raw client (Beast's parser on an
// Asio socket) so the tests control every byte: keep-alive, chunked bodies, malformed requests.
// Every wait has a deadline; nothing sleeps.
#include "projections/api/http_server.h"
#include "projections/api/security_headers.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <chrono>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "schemas/canonical.h"
#include "schemas/text.h"

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

struct Response {
    int status = 0;
    std::map<std::string, std::string> headers;  // names lowercased
    std::string body;
    bool keep_alive = false;

    std::string header(const std::string& name) const {  // lowercase name; "" when absent
        const auto found = headers.find(name);
        return found == headers.end() ? "" : found->second;
    }
};

// One client connection. Every read has a deadline (Beast's timeouts apply to async operations,
// so each read runs the io_context until its handler ran).
class Connection {
  public:
    explicit Connection(const std::string& address) : stream_(io_) {
        const auto colon = address.rfind(':');
        tcp::resolver resolver(io_);
        stream_.connect(resolver.resolve(address.substr(0, colon), address.substr(colon + 1)));
    }

    void send(std::string_view bytes) { asio::write(stream_.socket(), asio::buffer(bytes)); }

    // The next response, or nullopt when the connection ended (or the deadline passed) first.
    // `head`: the answer to a HEAD (headers only, whatever Content-Length says).
    std::optional<Response> read(std::chrono::seconds timeout = 10s, bool head = false) {
        http::response_parser<http::string_body> parser;
        parser.body_limit(16U << 20U);
        parser.skip(head);
        beast::error_code result = asio::error::would_block;
        stream_.expires_after(timeout);
        http::async_read(stream_, buffer_, parser,
                         [&](beast::error_code error, std::size_t) { result = error; });
        run();
        if (result) {
            return std::nullopt;
        }
        Response response;
        const auto& message = parser.get();
        response.status = static_cast<int>(message.result_int());
        for (const auto& field : message) {
            std::string name(field.name_string());
            std::transform(name.begin(), name.end(), name.begin(),
                           [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
            response.headers[name] = std::string(field.value());
        }
        response.body = message.body();
        response.keep_alive = message.keep_alive();
        return response;
    }

    // True when the server closes the connection (EOF or reset) within `timeout`, whatever it
    // sent before.
    bool closed_by_server(std::chrono::seconds timeout = 10s) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        buffer_.clear();
        while (std::chrono::steady_clock::now() < deadline) {
            beast::error_code result = asio::error::would_block;
            std::array<char, 4096> scratch{};
            stream_.expires_at(deadline);
            stream_.async_read_some(asio::buffer(scratch),
                                    [&](beast::error_code error, std::size_t) { result = error; });
            run();
            if (result == asio::error::eof || result == asio::error::connection_reset) {
                return true;
            }
            if (result) {
                return false;  // the deadline
            }
        }
        return false;
    }

  private:
    void run() {
        io_.restart();
        io_.run();
    }

    asio::io_context io_;
    beast::tcp_stream stream_;
    beast::flat_buffer buffer_;
};

std::string get(std::string_view target, std::string_view extra_headers = "") {
    return std::string("GET ") + std::string(target) + " HTTP/1.1\r\nHost: test\r\n" +
           std::string(extra_headers) + "\r\n";
}

std::string post(std::string_view target, std::string_view body) {
    return std::string("POST ") + std::string(target) +
           " HTTP/1.1\r\nHost: test\r\nContent-Type: text/plain\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\n\r\n" + std::string(body);
}

// Starts a server on any free port of 127.0.0.1.
std::unique_ptr<ul::HttpServer> start_server(ul::HttpServerOptions options = {}) {
    options.listen = "127.0.0.1:0";
    auto server = ul::HttpServer::start(std::move(options));
    if (!server.ok()) {
        ADD_FAILURE() << server.error();
        return nullptr;
    }
    return std::move(server).value();
}

// A handler answering what it saw, as JSON.
ul::HttpResponse echo(const ul::HttpRequest& request, const ul::HttpParams& params) {
    ul::HttpResponse response;
    response.body = "{\"method\":";
    ul::append_json_string(response.body, request.method);
    response.body += ",\"path\":";
    ul::append_json_string(response.body, request.path);
    response.body += ",\"query\":[";
    for (std::size_t index = 0; index < request.query.size(); ++index) {
        response.body += index == 0 ? "[" : ",[";
        ul::append_json_string(response.body, request.query[index].first);
        response.body += ",";
        ul::append_json_string(response.body, request.query[index].second);
        response.body += "]";
    }
    response.body += "],\"params\":{";
    bool first = true;
    for (const auto& [name, value] : params) {
        response.body += first ? "" : ",";
        first = false;
        ul::append_json_string(response.body, name);
        response.body += ":";
        ul::append_json_string(response.body, value);
    }
    response.body += "},\"body\":";
    ul::append_json_string(response.body, request.body);
    response.body += ",\"content_type\":";
    ul::append_json_string(response.body, request.content_type);
    response.body += ",\"authorization\":";
    ul::append_json_string(response.body, request.authorization);
    response.body += ",\"remote\":";
    ul::append_json_string(response.body, request.remote);
    response.body += "}";
    return response;
}

TEST(HttpServer, AnswersJsonWithContentLengthAndNoStore) {
    auto server = start_server();
    ASSERT_TRUE(server);
    server->route("GET", "/hello", [](const ul::HttpRequest&, const ul::HttpParams&) {
        ul::HttpResponse response;
        response.body = R"({"hello":"world"})";
        response.headers.emplace_back("X-Extra", "yes");
        return response;
    });
    EXPECT_TRUE(server->address().starts_with("127.0.0.1:"));
    EXPECT_NE(server->address(), "127.0.0.1:0");
    Connection connection(server->address());
    connection.send(get("/hello"));
    const auto response = connection.read();
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 200);
    EXPECT_EQ(response->body, R"({"hello":"world"})");
    EXPECT_EQ(response->header("content-type"), "application/json");
    EXPECT_EQ(response->header("content-length"), "17");
    EXPECT_EQ(response->header("cache-control"), "no-store");
    EXPECT_EQ(response->header("x-extra"), "yes");
}

TEST(HttpServer, RequestCarriesMethodBodyHeadersAndRemote) {
    auto server = start_server();
    ASSERT_TRUE(server);
    server->route("POST", "/echo", echo);
    Connection connection(server->address());
    connection.send(
        "POST /echo HTTP/1.1\r\nHost: test\r\nContent-Type: application/x-ndjson\r\n"
        "Authorization: Bearer k1\r\nContent-Length: 7\r\n\r\n{\"a\":1}");
    const auto response = connection.read();
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 200);
    EXPECT_NE(response->body.find(R"("method":"POST")"), std::string::npos) << response->body;
    EXPECT_NE(response->body.find(R"("body":"{\"a\":1}")"), std::string::npos) << response->body;
    EXPECT_NE(response->body.find(R"("content_type":"application/x-ndjson")"), std::string::npos);
    EXPECT_NE(response->body.find(R"("authorization":"Bearer k1")"), std::string::npos);
    EXPECT_NE(response->body.find(R"("remote":"127.0.0.1:)"), std::string::npos);
}

TEST(HttpServer, PathParametersCaptureOneDecodedSegmentEach) {
    auto server = start_server();
    ASSERT_TRUE(server);
    server->route("GET", "/v1/tenants/{tenant}/entitlements/{meter}", echo);
    server->route("GET", "/v1/tenants/{tenant}", echo);
    Connection connection(server->address());
    connection.send(get("/v1/tenants/acme%20co/entitlements/api.calls"));
    auto response = connection.read();
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 200);
    EXPECT_NE(response->body.find(R"("params":{"meter":"api.calls","tenant":"acme co"})"),
              std::string::npos)
        << response->body;
    EXPECT_NE(response->body.find(R"("path":"/v1/tenants/acme co/entitlements/api.calls")"),
              std::string::npos)
        << response->body;
    connection.send(get("/v1/tenants/globex"));
    response = connection.read();
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 200);
    EXPECT_NE(response->body.find(R"("params":{"tenant":"globex"})"), std::string::npos);
    // A parameter is exactly one non-empty segment.
    for (const char* target : {"/v1/tenants/acme/entitlements", "/v1/tenants//entitlements/m",
                               "/v1/tenants/a/b/entitlements/m", "/v1/tenants/"}) {
        connection.send(get(target));
        response = connection.read();
        ASSERT_TRUE(response) << target;
        EXPECT_EQ(response->status, 404) << target;
    }
}

TEST(HttpServer, QueryIsDecodedAndKeptInOrder) {
    auto server = start_server();
    ASSERT_TRUE(server);
    std::mutex mutex;
    std::vector<std::pair<std::string, std::string>> seen;
    std::optional<std::string> first_a;
    bool missing_is_nullopt = false;
    server->route("GET", "/q", [&](const ul::HttpRequest& request, const ul::HttpParams&) {
        std::lock_guard lock(mutex);
        seen = request.query;
        first_a = request.query_param("a") ? std::optional<std::string>(*request.query_param("a"))
                                           : std::nullopt;
        missing_is_nullopt = !request.query_param("missing");
        return ul::HttpResponse{};
    });
    Connection connection(server->address());
    connection.send(get("/q?a=1&b=x%20y&a=2&c=d+e&&flag&at=2026-11-01T00%3A00%3A00Z&e%3D=%26"));
    const auto response = connection.read();
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 200);
    std::lock_guard lock(mutex);
    const std::vector<std::pair<std::string, std::string>> expected{
        {"a", "1"},   {"b", "x y"}, {"a", "2"},
        {"c", "d e"}, {"flag", ""}, {"at", "2026-11-01T00:00:00Z"},
        {"e=", "&"}};
    EXPECT_EQ(seen, expected);
    EXPECT_EQ(first_a, "1");
    EXPECT_TRUE(missing_is_nullopt);
}

TEST(HttpServer, UnknownPathIs404) {
    auto server = start_server();
    ASSERT_TRUE(server);
    server->route("GET", "/known", echo);
    Connection connection(server->address());
    connection.send(get("/unknown"));
    const auto response = connection.read();
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 404);
    EXPECT_TRUE(response->body.starts_with(R"({"error":"not_found","detail":)")) << response->body;
    EXPECT_EQ(response->header("content-length"), std::to_string(response->body.size()));
    EXPECT_EQ(response->header("cache-control"), "no-store");
    EXPECT_TRUE(response->keep_alive);  // an answer like any other: the connection goes on
    connection.send(get("/known"));
    const auto next = connection.read();
    ASSERT_TRUE(next);
    EXPECT_EQ(next->status, 200);
}

TEST(HttpServer, KnownPathWithAnotherMethodIs405WithAllow) {
    auto server = start_server();
    ASSERT_TRUE(server);
    server->route("GET", "/thing/{id}", echo);
    server->route("PUT", "/thing/{id}", echo);
    Connection connection(server->address());
    connection.send(post("/thing/7", "{}"));
    const auto response = connection.read();
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 405);
    EXPECT_EQ(response->header("allow"), "GET, HEAD, PUT");  // HEAD with every GET
    EXPECT_TRUE(response->body.starts_with(R"({"error":"method_not_allowed")")) << response->body;
}

TEST(HttpServer, EveryAnswerCarriesSecurityHeaders) {
    auto server = start_server();
    ASSERT_TRUE(server);
    server->route("GET", "/page", [](const ul::HttpRequest&, const ul::HttpParams&) {
        ul::HttpResponse response;
        response.content_type = "text/html";
        response.headers.emplace_back("Content-Security-Policy", "default-src 'self'");
        return response;
    });
    Connection connection(server->address());
    for (const char* target : {"/page", "/missing"}) {
        connection.send(get(target, "Origin: https://evil.example\r\n"));
        const auto response = connection.read();
        ASSERT_TRUE(response) << target;
        EXPECT_EQ(response->header("x-content-type-options"), "nosniff") << target;
        EXPECT_EQ(response->header("referrer-policy"), "no-referrer") << target;
        EXPECT_EQ(response->header("access-control-allow-origin"), "") << target;  // no CORS
    }
    connection.send(get("/page"));
    auto response = connection.read();
    ASSERT_TRUE(response);
    // The page's own policy keeps its directives and gets frame-ancestors 'none' appended.
    EXPECT_EQ(response->header("content-security-policy"),
              "default-src 'self'; frame-ancestors 'none'");
    connection.send(get("/missing"));  // a JSON answer: nothing may run or load
    response = connection.read();
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 404);
    EXPECT_EQ(response->header("content-security-policy"),
              "default-src 'none'; frame-ancestors 'none'");
}

TEST(HttpServer, CorsAnswersOnlyAllowedOriginsAndPreflights) {
    ul::HttpServerOptions options;
    options.cors_origins = {"https://app.example.com", "http://localhost:3000"};
    options.frame_ancestors = {"https://app.example.com"};
    auto server = start_server(options);
    ASSERT_TRUE(server);
    server->route("GET", "/v1/things/{id}", echo);
    server->route("POST", "/v1/things/{id}", echo);
    Connection connection(server->address());
    connection.send(get("/v1/things/1", "Origin: https://app.example.com\r\n"));
    auto response = connection.read();
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 200);
    EXPECT_EQ(response->header("access-control-allow-origin"), "https://app.example.com");
    EXPECT_EQ(response->header("vary"), "Origin");
    EXPECT_EQ(response->header("content-security-policy"),
              "default-src 'none'; frame-ancestors https://app.example.com");
    // Not in the list (a prefix of an allowed origin is not it): no CORS header.
    connection.send(get("/v1/things/1", "Origin: https://app.example.com.evil.example\r\n"));
    response = connection.read();
    ASSERT_TRUE(response);
    EXPECT_EQ(response->header("access-control-allow-origin"), "");
    // A preflight from an allowed origin: 204 with the methods and the Authorization header.
    connection.send(
        "OPTIONS /v1/things/1 HTTP/1.1\r\nHost: test\r\nOrigin: http://localhost:3000\r\n"
        "Access-Control-Request-Method: POST\r\n"
        "Access-Control-Request-Headers: authorization, content-type\r\n\r\n");
    response = connection.read();
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 204);
    EXPECT_EQ(response->header("access-control-allow-origin"), "http://localhost:3000");
    EXPECT_EQ(response->header("access-control-allow-methods"), "GET, HEAD, POST");
    EXPECT_NE(response->header("access-control-allow-headers").find("Authorization"),
              std::string::npos);
    EXPECT_EQ(response->header("allow"), "GET, HEAD, POST, OPTIONS");
    EXPECT_TRUE(response->body.empty());
    // From another origin: 204 with Allow, but nothing that lets a browser go on.
    connection.send(
        "OPTIONS /v1/things/1 HTTP/1.1\r\nHost: test\r\nOrigin: https://evil.example\r\n\r\n");
    response = connection.read();
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 204);
    EXPECT_EQ(response->header("access-control-allow-origin"), "");
    EXPECT_EQ(response->header("access-control-allow-methods"), "");
    // OPTIONS on an unknown path is still 404.
    connection.send("OPTIONS /nowhere HTTP/1.1\r\nHost: test\r\n\r\n");
    response = connection.read();
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 404);
}

TEST(SecurityHeaders, CspSha256SourceIsBase64OfTheDigest) {
    // echo -n 'alert(1)' | openssl dgst -sha256 -binary | base64
    EXPECT_EQ(ul::csp_sha256_source("alert(1)"),
              "'sha256-bhHHL3z2vDgxUt0W3dWQOrprscmda2Y5pLsLg4GF+pI='");
}

TEST(HttpServer, BodyOverTheLimitIs413FromContentLengthBeforeTheBodyIsSent) {
    ul::HttpServerOptions options;
    options.max_body_bytes = 1024;
    auto server = start_server(options);
    ASSERT_TRUE(server);
    std::atomic<int> calls{0};
    server->route("POST", "/upload", [&](const ul::HttpRequest& request, const ul::HttpParams&) {
        ++calls;
        ul::HttpResponse response;
        response.body = std::to_string(request.body.size());
        return response;
    });
    {
        // Only the headers: the answer comes without the server waiting for a body.
        Connection connection(server->address());
        connection.send("POST /upload HTTP/1.1\r\nHost: test\r\nContent-Length: 1048576\r\n\r\n");
        const auto response = connection.read();
        ASSERT_TRUE(response);
        EXPECT_EQ(response->status, 413);
        EXPECT_TRUE(response->body.starts_with(R"({"error":"request_too_large")"))
            << response->body;
        EXPECT_FALSE(response->keep_alive);
        EXPECT_TRUE(connection.closed_by_server());
    }
    {
        // Exactly the limit is allowed.
        Connection connection(server->address());
        connection.send(post("/upload", std::string(1024, 'x')));
        const auto response = connection.read();
        ASSERT_TRUE(response);
        EXPECT_EQ(response->status, 200);
        EXPECT_EQ(response->body, "1024");
    }
    EXPECT_EQ(calls.load(), 1);
}

TEST(HttpServer, ChunkedBodyGrowingPastTheLimitIs413) {
    ul::HttpServerOptions options;
    options.max_body_bytes = 1024;
    auto server = start_server(options);
    ASSERT_TRUE(server);
    std::atomic<int> calls{0};
    server->route("POST", "/upload", [&](const ul::HttpRequest& request, const ul::HttpParams&) {
        ++calls;
        ul::HttpResponse response;
        response.body = request.body;
        return response;
    });
    const std::string chunk(600, 'x');
    const std::string chunk_line = "258\r\n" + chunk + "\r\n";  // 0x258 = 600
    const std::string headers =
        "POST /upload HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n";
    {
        // Under the limit: the chunks are joined.
        Connection connection(server->address());
        connection.send(headers + "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
        const auto response = connection.read();
        ASSERT_TRUE(response);
        EXPECT_EQ(response->status, 200);
        EXPECT_EQ(response->body, "hello world");
    }
    {
        // Two chunks of 600 bytes: the second passes 1024. Sent without the last chunk, so the
        // answer can only come from the body growing past the limit.
        Connection connection(server->address());
        connection.send(headers + chunk_line + chunk_line);
        const auto response = connection.read();
        ASSERT_TRUE(response);
        EXPECT_EQ(response->status, 413);
        EXPECT_TRUE(response->body.starts_with(R"({"error":"request_too_large")"))
            << response->body;
        EXPECT_TRUE(connection.closed_by_server());
    }
    EXPECT_EQ(calls.load(), 1);
}

TEST(HttpServer, KeepAliveServesRequestsOnOneConnection) {
    auto server = start_server();
    ASSERT_TRUE(server);
    server->route("GET", "/echo", echo);
    server->route("POST", "/echo", echo);
    Connection connection(server->address());
    connection.send(get("/echo?n=1"));
    const auto first = connection.read();
    ASSERT_TRUE(first);
    EXPECT_EQ(first->status, 200);
    EXPECT_TRUE(first->keep_alive);
    connection.send(post("/echo?n=2", "second"));
    const auto second = connection.read();
    ASSERT_TRUE(second);
    EXPECT_EQ(second->status, 200);
    EXPECT_NE(second->body.find(R"("body":"second")"), std::string::npos);
    // Same connection: same remote port.
    const auto remote = [](const std::string& body) {
        const auto at = body.find(R"("remote":)");
        return body.substr(at, body.find('"', at + 10) - at);
    };
    EXPECT_EQ(remote(first->body), remote(second->body));
    // Two pipelined requests are answered in order.
    connection.send(get("/echo?n=3") + get("/echo?n=4"));
    const auto third = connection.read();
    const auto fourth = connection.read();
    ASSERT_TRUE(third && fourth);
    EXPECT_NE(third->body.find(R"([["n","3"]])"), std::string::npos) << third->body;
    EXPECT_NE(fourth->body.find(R"([["n","4"]])"), std::string::npos) << fourth->body;
    // "Connection: close" is honoured.
    connection.send(get("/echo?n=5", "Connection: close\r\n"));
    const auto last = connection.read();
    ASSERT_TRUE(last);
    EXPECT_FALSE(last->keep_alive);
    EXPECT_TRUE(connection.closed_by_server());
}

TEST(HttpServer, AsyncHandlerRepliesFromAnotherThread) {
    auto server = start_server();
    ASSERT_TRUE(server);
    std::mutex mutex;
    std::vector<std::thread> repliers;
    std::thread::id handler_thread;
    std::thread::id replier_thread;
    server->route_async(
        "POST", "/commit/{id}",
        [&](const ul::HttpRequest& request, const ul::HttpParams& params,
            const std::function<void(ul::HttpResponse)>& reply) {
            std::lock_guard lock(mutex);
            handler_thread = std::this_thread::get_id();
            repliers.emplace_back([&, reply, id = params.at("id"), body = request.body] {
                {
                    std::lock_guard inner(mutex);
                    replier_thread = std::this_thread::get_id();
                }
                ul::HttpResponse response;
                response.status = 201;
                response.body = R"({"id":")" + id + R"(","body":")" + body + R"("})";
                reply(response);
                reply(ul::json_error(500, "twice", "a second reply is dropped"));
            });
        });
    Connection connection(server->address());
    connection.send(post("/commit/42", "x"));
    const auto response = connection.read();
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 201);
    EXPECT_EQ(response->body, R"({"id":"42","body":"x"})");
    // The second reply went nowhere: the next request on the connection gets its own answer.
    connection.send(post("/commit/43", "y"));
    const auto next = connection.read();
    ASSERT_TRUE(next);
    EXPECT_EQ(next->status, 201);
    EXPECT_EQ(next->body, R"({"id":"43","body":"y"})");
    server->stop();  // no handler runs now: `repliers` is ours
    for (auto& replier : repliers) {
        replier.join();
    }
    EXPECT_NE(handler_thread, replier_thread);
}

TEST(HttpServer, AStaleSecondReplyNeverAnswersALaterRequest) {
    auto server = start_server();
    ASSERT_TRUE(server);
    std::mutex mutex;
    std::vector<std::function<void(ul::HttpResponse)>> replies;
    std::promise<void> second_waiting;
    server->route_async("GET", "/r/{n}",
                        [&](const ul::HttpRequest&, const ul::HttpParams& params,
                            const std::function<void(ul::HttpResponse)>& reply) {
                            std::lock_guard lock(mutex);
                            replies.push_back(reply);
                            if (params.at("n") == "1") {
                                ul::HttpResponse response;
                                response.body = "first";
                                reply(response);
                            } else {
                                second_waiting.set_value();  // answered by the test below
                            }
                        });
    Connection connection(server->address());
    connection.send(get("/r/1"));
    const auto first = connection.read();
    ASSERT_TRUE(first);
    EXPECT_EQ(first->body, "first");
    connection.send(get("/r/2"));
    ASSERT_EQ(second_waiting.get_future().wait_for(10s), std::future_status::ready);
    std::function<void(ul::HttpResponse)> reply_first;
    std::function<void(ul::HttpResponse)> reply_second;
    {
        std::lock_guard lock(mutex);
        ASSERT_EQ(replies.size(), 2U);
        reply_first = replies[0];
        reply_second = replies[1];
    }
    reply_first(ul::json_error(500, "stale", "the first request's reply, again"));
    ul::HttpResponse response;
    response.body = "second";
    reply_second(response);
    const auto second = connection.read();
    ASSERT_TRUE(second);
    EXPECT_EQ(second->status, 200);
    EXPECT_EQ(second->body, "second");
}

TEST(HttpServer, ThrowingHandlerIs500AndTheServerGoesOn) {
    auto server = start_server();
    ASSERT_TRUE(server);
    server->route("GET", "/throws",
                  [](const ul::HttpRequest&, const ul::HttpParams&) -> ul::HttpResponse {
                      throw std::runtime_error("boom");
                  });
    server->route(
        "GET", "/throws-int",
        [](const ul::HttpRequest&, const ul::HttpParams&) -> ul::HttpResponse { throw 7; });
    server->route("GET", "/ok", echo);
    Connection connection(server->address());
    for (const char* target : {"/throws", "/throws-int"}) {
        connection.send(get(target));
        const auto response = connection.read();
        ASSERT_TRUE(response) << target;
        EXPECT_EQ(response->status, 500) << target;
        EXPECT_TRUE(response->body.starts_with(R"({"error":"internal")")) << response->body;
        EXPECT_EQ(response->body.find("boom"), std::string::npos);  // details stay in the log
    }
    connection.send(get("/ok"));
    const auto response = connection.read();
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 200);
    Connection other(server->address());
    other.send(get("/ok"));
    ASSERT_TRUE(other.read());
}

TEST(HttpServer, MalformedRequestIs400AndCloses) {
    auto server = start_server();
    ASSERT_TRUE(server);
    server->route("GET", "/ok", echo);
    for (const std::string& request :
         {std::string("THIS IS NOT HTTP\r\n\r\n"),
          std::string("GET /ok HTTP/1.1\r\nHost: test\r\nContent-Length: abc\r\n\r\n"),
          std::string("GET /ok HTTP/1.1\r\nBad Header Line\r\n\r\n"), get("/ok%zz"),
          get("/ok?a=%4"), get("not-a-path")}) {
        Connection connection(server->address());
        connection.send(request);
        const auto response = connection.read();
        ASSERT_TRUE(response) << request;
        EXPECT_EQ(response->status, 400) << request;
        EXPECT_TRUE(response->body.starts_with(R"({"error":"bad_request")")) << response->body;
        EXPECT_EQ(response->header("cache-control"), "no-store");
        EXPECT_FALSE(response->keep_alive);
        EXPECT_TRUE(connection.closed_by_server()) << request;
    }
    Connection connection(server->address());
    connection.send(get("/ok"));
    const auto response = connection.read();
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 200);
}

TEST(HttpServer, IdleConnectionIsClosedAfterTheTimeout) {
    ul::HttpServerOptions options;
    options.idle_timeout = std::chrono::seconds(1);
    auto server = start_server(options);
    ASSERT_TRUE(server);
    Connection connection(server->address());
    connection.send("GET /partial HTTP/1.1\r\n");  // never finished
    EXPECT_TRUE(connection.closed_by_server(10s));
}

TEST(HttpServer, StopWithClientsConnectedReturnsAndClosesThem) {
    auto server = start_server();
    ASSERT_TRUE(server);
    std::promise<std::function<void(ul::HttpResponse)>> held;
    server->route_async("GET", "/wait",
                        [&](const ul::HttpRequest&, const ul::HttpParams&,
                            const std::function<void(ul::HttpResponse)>& reply) {
                            held.set_value(reply);  // answered only after stop()
                        });
    server->route("GET", "/ok", echo);
    const std::string address = server->address();
    Connection idle(address);  // connected, nothing sent
    Connection partial(address);
    partial.send("GET /ok HTTP/1.1\r\nHost: te");
    Connection waiting(address);
    waiting.send(get("/wait"));
    auto reply_future = held.get_future();
    ASSERT_EQ(reply_future.wait_for(10s), std::future_status::ready);
    const auto reply = reply_future.get();

    const auto stop_started = std::chrono::steady_clock::now();
    server->stop();
    EXPECT_LT(std::chrono::steady_clock::now() - stop_started, 5s);
    EXPECT_EQ(server->address(), address);
    EXPECT_TRUE(idle.closed_by_server());
    EXPECT_TRUE(partial.closed_by_server());
    EXPECT_TRUE(waiting.closed_by_server());

    // A reply after stop() is dropped, from any thread, even once the server is gone.
    reply(ul::HttpResponse{});
    server->stop();  // twice is fine
    server.reset();
    std::thread late([reply] { reply(ul::HttpResponse{}); });
    late.join();
}

TEST(HttpServer, StartNamesTheAddressItCannotListenOn) {
    auto first = start_server();
    ASSERT_TRUE(first);
    ul::HttpServerOptions options;
    options.listen = first->address();
    const auto taken = ul::HttpServer::start(options);
    ASSERT_FALSE(taken.ok());
    EXPECT_NE(taken.error().find("cannot listen on " + first->address()), std::string::npos)
        << taken.error();
    EXPECT_NE(taken.error().find("in use"), std::string::npos) << taken.error();
    for (const char* listen :
         {"localhost-no-port", "127.0.0.1:99999", "127.0.0.1:http", "not-an-ip:8080", ":8080"}) {
        options.listen = listen;
        const auto bad = ul::HttpServer::start(options);
        ASSERT_FALSE(bad.ok()) << listen;
        EXPECT_NE(bad.error().find(listen), std::string::npos) << bad.error();
    }
}

TEST(HttpServer, ServesFromSeveralThreads) {
    ul::HttpServerOptions options;
    options.threads = 4;
    auto server = start_server(options);
    ASSERT_TRUE(server);
    server->route("GET", "/echo", echo);
    std::vector<std::thread> clients;
    clients.reserve(8);
    std::atomic<int> answered{0};
    for (int client = 0; client < 8; ++client) {
        clients.emplace_back([&, client] {
            Connection connection(server->address());
            for (int request = 0; request < 20; ++request) {
                connection.send(get("/echo?c=" + std::to_string(client)));
                const auto response = connection.read();
                if (response && response->status == 200 &&
                    response->body.find(R"([["c",")" + std::to_string(client) + R"("]])") !=
                        std::string::npos) {
                    ++answered;
                }
            }
        });
    }
    for (auto& client : clients) {
        client.join();
    }
    EXPECT_EQ(answered.load(), 8 * 20);
}

TEST(HttpJsonError, EscapesCodeAndDetail) {
    const auto response = ul::json_error(400, "bad_parameter", "'at' is \"x\"\n");
    EXPECT_EQ(response.status, 400);
    EXPECT_EQ(response.content_type, "application/json");
    EXPECT_EQ(response.body, R"({"error":"bad_parameter","detail":"'at' is \"x\"\n"})");
}

// Issue 16's HTTP defects, each over a real socket.
TEST(HttpServer, ErrorBodiesAreValidJsonWhateverBytesThePathHolds) {
    auto server = start_server();
    ASSERT_TRUE(server);
    Connection connection(server->address());
    connection.send(get("/caf\xC3\xA9/\xFF\xFE/%C0%AF"));
    const auto response = connection.read();
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 404);
    EXPECT_EQ(ul::valid_utf8(response->body), response->body) << response->body;
    EXPECT_NE(response->body.find("caf\xC3\xA9"), std::string::npos) << response->body;
    EXPECT_NE(response->body.find("\xEF\xBF\xBD"), std::string::npos) << response->body;
    EXPECT_EQ(ul::valid_utf8("a\xE0\x80\x80z"),
              "a\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBDz");                                // overlong
    EXPECT_EQ(ul::valid_utf8("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate
    EXPECT_EQ(ul::valid_utf8("\xF0\x9F\x98\x80"), "\xF0\x9F\x98\x80");
}

TEST(HttpServer, AnEncodedSlashStaysInsideItsSegment) {
    auto server = start_server();
    ASSERT_TRUE(server);
    server->route("GET", "/v1/tenants/{tenant}/usage", echo);
    server->route("GET", "/v1/tenants/{tenant}", echo);
    Connection connection(server->address());
    connection.send(get("/v1/tenants/acme%2Fusage"));
    auto response = connection.read();
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 200);
    EXPECT_NE(response->body.find(R"("params":{"tenant":"acme/usage"})"), std::string::npos)
        << response->body;  // one segment: the tenant route, whose tenant id check refuses it
    connection.send(get("/v1/tenants/acme/usage"));
    response = connection.read();
    ASSERT_TRUE(response);
    EXPECT_NE(response->body.find(R"("params":{"tenant":"acme"})"), std::string::npos);
}

TEST(HttpServer, HeadAnswersEveryGetRouteWithItsHeadersAndNoBody) {
    auto server = start_server();
    ASSERT_TRUE(server);
    server->route("GET", "/known", echo);
    server->route("POST", "/posted", echo);
    Connection connection(server->address());
    connection.send("HEAD /known HTTP/1.1\r\nHost: x\r\n\r\n");
    auto response = connection.read(10s, true);
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 200);
    EXPECT_TRUE(response->body.empty());
    EXPECT_NE(response->header("content-length"), "0");
    EXPECT_FALSE(response->header("content-length").empty());
    // The connection goes on: no stray body bytes were sent.
    connection.send(get("/known"));
    response = connection.read();
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 200);
    EXPECT_EQ(response->header("content-length"), std::to_string(response->body.size()));
    connection.send("HEAD /posted HTTP/1.1\r\nHost: x\r\n\r\n");
    response = connection.read(10s, true);
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 405);
    connection.send("DELETE /known HTTP/1.1\r\nHost: x\r\n\r\n");
    response = connection.read();
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 405);
    EXPECT_EQ(response->header("allow"), "GET, HEAD");
}

TEST(HttpServer, OversizedHeadersAre431) {
    auto server = start_server();
    ASSERT_TRUE(server);
    server->route("GET", "/known", echo);
    Connection connection(server->address());
    connection.send(get("/known", "X-Big: " + std::string(20000, 'a') + "\r\n"));
    const auto response = connection.read();
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 431);
    EXPECT_TRUE(response->body.starts_with(R"({"error":"headers_too_large")")) << response->body;
}

TEST(HttpServer, TransferCodingsOtherThanChunkedAre501) {
    auto server = start_server();
    ASSERT_TRUE(server);
    server->route("POST", "/posted", echo);
    Connection connection(server->address());
    connection.send(
        "POST /posted HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
        "3\r\nabc\r\n0\r\n\r\n");
    const auto response = connection.read();
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 501);
    EXPECT_TRUE(response->body.starts_with(R"({"error":"not_implemented")")) << response->body;
}

// Every answer is counted by route pattern and status (the raw path never becomes a label);
// unmatched paths and requests refused before routing count as "other". The counters are
// updated before the response is written, so once the client has read it they show it.
TEST(HttpServer, RequestMetricsCountByRoutePatternAndStatus) {
    ul::HttpServerOptions options;
    options.max_body_bytes = 1024;
    auto server = start_server(options);
    ASSERT_TRUE(server);
    server->route("GET", "/v1/tenants/{tenant}/usage", echo);
    server->route("GET", "/boom",
                  [](const ul::HttpRequest&, const ul::HttpParams&) -> ul::HttpResponse {
                      throw std::runtime_error("boom");
                  });
    Connection connection(server->address());
    for (const std::string_view target :
         {"/v1/tenants/acme/usage", "/v1/tenants/globex/usage?period=day", "/nowhere", "/boom"}) {
        connection.send(get(target));
        ASSERT_TRUE(connection.read());
    }
    connection.send(post("/v1/tenants/acme/usage", "{}"));  // 405 on a known pattern
    ASSERT_TRUE(connection.read());
    {
        Connection refused(server->address());
        refused.send("POST /upload HTTP/1.1\r\nHost: test\r\nContent-Length: 1048576\r\n\r\n");
        const auto response = refused.read();
        ASSERT_TRUE(response);
        EXPECT_EQ(response->status, 413);
    }

    const ul::HttpMetrics& metrics = server->request_metrics();
    std::string text;
    metrics.append_text(text);
    const std::string usage = "route=\"/v1/tenants/{tenant}/usage\"";
    EXPECT_NE(text.find("http_requests_total{" + usage + ",status=\"200\"} 2\n"), std::string::npos)
        << text;
    EXPECT_NE(text.find("http_requests_total{" + usage + ",status=\"405\"} 1\n"),
              std::string::npos);
    EXPECT_NE(text.find("http_requests_total{route=\"/boom\",status=\"500\"} 1\n"),
              std::string::npos);
    EXPECT_NE(text.find("http_requests_total{route=\"other\",status=\"404\"} 1\n"),
              std::string::npos);
    EXPECT_NE(text.find("http_requests_total{route=\"other\",status=\"413\"} 1\n"),
              std::string::npos);
    EXPECT_NE(text.find("http_request_duration_seconds_count{" + usage + "} 3\n"),
              std::string::npos);
    EXPECT_NE(text.find("http_request_duration_seconds_bucket{" + usage + ",le=\"+Inf\"} 3\n"),
              std::string::npos);
    EXPECT_EQ(text.find("acme"), std::string::npos) << "a raw path became a label";
    EXPECT_EQ(text.find("nowhere"), std::string::npos) << "a raw path became a label";
}

}  // namespace
