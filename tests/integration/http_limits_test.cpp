// The HTTP server's and ingest's limits over real TCP sockets on 127.0.0.1:0 (issue 16):
// max_connections (the next connection waits in the backlog and is served once one closes),
// accept() out of descriptors (a lowered RLIMIT_NOFILE filled up: accepting pauses and retries
// after a delay instead of spinning, then serves the waiting client), `Expect: 100-continue`,
// and POST /v1/events' events-per-request cap and its all-invalid answer (no broker is needed:
// these answers come before anything is produced). Every wait has a deadline; nothing sleeps.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "projections/api/http_server.h"
#include "projections/api/ingest.h"

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

struct Response {
    int status = 0;
    std::string body;
};

// One client connection. The socket (and its descriptor) exists from construction; connect()
// needs no new descriptor, so a test can connect after it used up every other one.
class Connection {
  public:
    Connection() : stream_(io_) { stream_.socket().open(tcp::v4()); }
    explicit Connection(const std::string& address) : Connection() { connect(address); }

    void connect(const std::string& address) {
        const auto colon = address.rfind(':');
        const tcp::endpoint endpoint(
            asio::ip::make_address(address.substr(0, colon)),
            static_cast<unsigned short>(std::stoi(address.substr(colon + 1))));
        stream_.socket().connect(endpoint);
    }

    void send(std::string_view bytes) { asio::write(stream_.socket(), asio::buffer(bytes)); }

    // The next response (a 100 Continue too), or nullopt when the connection ended or the
    // deadline passed first (which closes the connection).
    std::optional<Response> read(std::chrono::seconds timeout = 10s) {
        http::response_parser<http::string_body> parser;
        parser.body_limit(16U << 20U);
        beast::error_code result = asio::error::would_block;
        stream_.expires_after(timeout);
        http::async_read(stream_, buffer_, parser,
                         [&](beast::error_code error, std::size_t) { result = error; });
        io_.restart();
        io_.run();
        if (result) {
            return std::nullopt;
        }
        return Response{static_cast<int>(parser.get().result_int()), parser.get().body()};
    }

    // Whether the server sent anything within `timeout` (the connection stays usable).
    bool readable_within(std::chrono::milliseconds timeout) {
        pollfd polled{stream_.socket().native_handle(), POLLIN, 0};
        return ::poll(&polled, 1, static_cast<int>(timeout.count())) > 0;
    }

  private:
    asio::io_context io_;
    beast::tcp_stream stream_;
    beast::flat_buffer buffer_;
};

std::string get(std::string_view target) {
    return std::string("GET ") + std::string(target) + " HTTP/1.1\r\nHost: test\r\n\r\n";
}

std::string post(std::string_view target, std::string_view content_type, std::string_view body) {
    return std::string("POST ") + std::string(target) +
           " HTTP/1.1\r\nHost: test\r\nContent-Type: " + std::string(content_type) +
           "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + std::string(body);
}

bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!condition()) {
        if (std::chrono::steady_clock::now() >= deadline) {
            return false;
        }
        std::this_thread::yield();
    }
    return true;
}

std::unique_ptr<ul::HttpServer> start_server(ul::HttpServerOptions options = {}) {
    options.listen = "127.0.0.1:0";
    auto server = ul::HttpServer::start(std::move(options));
    if (!server.ok()) {
        ADD_FAILURE() << server.error();
        return nullptr;
    }
    auto started = std::move(server).value();
    started->route("GET", "/healthz", [](const ul::HttpRequest&, const ul::HttpParams&) {
        ul::HttpResponse response;
        response.body = R"({"status":"ok"})";
        return response;
    });
    started->route("POST", "/echo", [](const ul::HttpRequest& request, const ul::HttpParams&) {
        ul::HttpResponse response;
        response.content_type = "text/plain";
        response.body = request.body;
        return response;
    });
    return started;
}

TEST(HttpLimits, AtMaxConnectionsTheLongestIdleConnectionMakesRoom) {
    constexpr std::size_t kLimit = 20;
    ul::HttpServerOptions options;
    options.max_connections = kLimit;
    auto server = start_server(options);
    ASSERT_TRUE(server);
    EXPECT_EQ(server->max_connections(), kLimit);
    std::vector<std::unique_ptr<Connection>> idle;
    for (std::size_t index = 0; index < kLimit; ++index) {
        idle.push_back(std::make_unique<Connection>(server->address()));
        idle.back()->send(get("/healthz"));
        const auto answer = idle.back()->read();
        ASSERT_TRUE(answer) << "connection " << index;
        EXPECT_EQ(answer->status, 200);
    }
    // The next connection is served at once: an idle keep-alive connection is closed for it.
    Connection next(server->address());
    next.send(get("/healthz"));
    const auto answer = next.read();
    ASSERT_TRUE(answer);
    EXPECT_EQ(answer->body, R"({"status":"ok"})");
    EXPECT_EQ(server->idle_closed_total(), 1U);
    EXPECT_EQ(server->accept_paused_total(), 0U);
    // Exactly one idle connection was closed (the one that had waited longest); the others are
    // still served on their connections.
    std::size_t closed = 0;
    for (auto& connection : idle) {
        try {
            connection->send(get("/healthz"));
            closed += connection->read() ? 0 : 1;
        } catch (const boost::system::system_error&) {  // reset by the server: closed too
            ++closed;
        }
    }
    EXPECT_EQ(closed, 1U);
    idle.clear();
    EXPECT_TRUE(wait_until([&] { return server->open_connections() == 1; }, 10s))
        << server->open_connections();
}

TEST(HttpLimits, AtMaxConnectionsAllBusyTheNextWaitsUntilOneIsIdle) {
    constexpr std::size_t kLimit = 5;
    ul::HttpServerOptions options;
    options.max_connections = kLimit;
    auto server = start_server(options);
    ASSERT_TRUE(server);
    std::mutex held_mutex;
    std::vector<ul::HttpReply> held;  // requests answered only when the test says so
    server->route_async(
        "GET", "/hold",
        [&](const ul::HttpRequest&, const ul::HttpParams&, const ul::HttpReply& reply) {
            std::lock_guard lock(held_mutex);
            held.push_back(reply);
        });
    // One by one, each held before the next connects: when the last is accepted, none waits.
    std::vector<std::unique_ptr<Connection>> busy;
    for (std::size_t index = 0; index < kLimit; ++index) {
        busy.push_back(std::make_unique<Connection>(server->address()));
        busy.back()->send(get("/hold"));
        ASSERT_TRUE(wait_until(
            [&] {
                std::lock_guard lock(held_mutex);
                return held.size() == index + 1;
            },
            10s));
    }
    EXPECT_EQ(server->accept_paused_total(), 1U);
    // Every connection is busy: the next one completes its handshake (the kernel's backlog) but
    // is not served...
    Connection waiting(server->address());
    waiting.send(get("/healthz"));
    EXPECT_FALSE(waiting.readable_within(500ms));
    // ...until one request is answered: its connection turns idle and is closed for the new one.
    {
        std::lock_guard lock(held_mutex);
        ul::HttpResponse response;
        response.body = R"({"held":true})";
        held.front()(response);
    }
    ASSERT_TRUE(busy.front()->read());
    const auto answer = waiting.read();
    ASSERT_TRUE(answer);
    EXPECT_EQ(answer->status, 200);
    EXPECT_EQ(server->idle_closed_total(), 1U);
    std::lock_guard lock(held_mutex);
    for (std::size_t index = 1; index < held.size(); ++index) {
        held[index](ul::HttpResponse{});
    }
}

TEST(HttpLimits, MaxConnectionsZeroIsRefusedAtStart) {
    ul::HttpServerOptions options;
    options.listen = "127.0.0.1:0";
    options.max_connections = 0;
    auto server = ul::HttpServer::start(options);
    ASSERT_FALSE(server.ok());
    EXPECT_EQ(server.error(), "max_connections must be at least 1");
}

// Lowers this process's soft RLIMIT_NOFILE a little above its highest open descriptor and fills
// every free descriptor below it; the destructor closes them and restores the limit.
class DescriptorsExhausted {
  public:
    DescriptorsExhausted() {
        EXPECT_EQ(getrlimit(RLIMIT_NOFILE, &saved_), 0);
        int highest = 0;
        for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
            highest = std::max(highest, std::stoi(entry.path().filename().string()));
        }
        rlimit lowered = saved_;
        lowered.rlim_cur = std::min<rlim_t>(saved_.rlim_max, static_cast<rlim_t>(highest) + 32);
        EXPECT_EQ(setrlimit(RLIMIT_NOFILE, &lowered), 0);
        for (int count = 0; count < 100'000; ++count) {
            const int descriptor = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
            if (descriptor < 0) {
                EXPECT_EQ(errno, EMFILE);
                return;
            }
            descriptors_.push_back(descriptor);
        }
        ADD_FAILURE() << "descriptors never ran out";
    }
    ~DescriptorsExhausted() {
        for (const int descriptor : descriptors_) {
            ::close(descriptor);
        }
        setrlimit(RLIMIT_NOFILE, &saved_);
    }
    DescriptorsExhausted(const DescriptorsExhausted&) = delete;
    DescriptorsExhausted& operator=(const DescriptorsExhausted&) = delete;

  private:
    rlimit saved_{};
    std::vector<int> descriptors_;
};

// Lowering RLIMIT_NOFILE is process-wide: ctest runs each test in a process of its own, and
// the limit is restored before the test ends.
TEST(HttpLimits, OutOfDescriptorsPausesAcceptingWithoutSpinningAndResumes) {
    ul::HttpServerOptions options;
    options.accept_retry_delay = 100ms;
    options.max_connections = 2;
    auto server = start_server(options);
    ASSERT_TRUE(server);
    {
        // Reach the limit once first, so the pause's log line has been written: UBSan checks
        // each dynamic type once, on first use, and that check needs descriptors (a pipe).
        Connection first(server->address());
        Connection second(server->address());
        for (Connection* connection : {&first, &second}) {
            connection->send(get("/healthz"));
            ASSERT_TRUE(connection->read());
        }
    }
    ASSERT_TRUE(wait_until([&] { return server->open_connections() == 0; }, 10s));
    const std::uint64_t before = server->accept_paused_total();
    EXPECT_EQ(before, 1U);
    Connection client;  // its descriptor exists before they run out
    auto exhausted = std::make_unique<DescriptorsExhausted>();
    client.connect(server->address());
    client.send(get("/healthz"));
    // accept() fails with EMFILE: accepting pauses, and retries only after the delay (a loop
    // retrying at once would count thousands of pauses in these 200 ms).
    ASSERT_TRUE(wait_until([&] { return server->accept_paused_total() >= before + 1; }, 10s));
    const auto first_pause = std::chrono::steady_clock::now();
    ASSERT_TRUE(wait_until([&] { return server->accept_paused_total() >= before + 3; }, 10s));
    EXPECT_GE(std::chrono::steady_clock::now() - first_pause, 150ms)
        << server->accept_paused_total() << " pauses";
    EXPECT_EQ(server->open_connections(), 0U);
    // Descriptors free again: the next retry accepts and the waiting client is served.
    exhausted.reset();
    const auto answer = client.read();
    ASSERT_TRUE(answer);
    EXPECT_EQ(answer->status, 200);
    EXPECT_EQ(server->open_connections(), 1U);
}

TEST(HttpLimits, ExpectContinueIsAnsweredBeforeTheBodyIsSent) {
    auto server = start_server();
    ASSERT_TRUE(server);
    Connection connection(server->address());
    connection.send(
        "POST /echo HTTP/1.1\r\nHost: test\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n"
        "Expect: 100-continue\r\n\r\n");
    // Well before the client's own fallback (curl waits one second) and the idle timeout.
    const auto interim = connection.read(3s);
    ASSERT_TRUE(interim);
    EXPECT_EQ(interim->status, 100);
    connection.send("hello");
    const auto answer = connection.read();
    ASSERT_TRUE(answer);
    EXPECT_EQ(answer->status, 200);
    EXPECT_EQ(answer->body, "hello");
    // The connection goes on: a second request without Expect gets no 100.
    connection.send(post("/echo", "text/plain", "again"));
    const auto second = connection.read();
    ASSERT_TRUE(second);
    EXPECT_EQ(second->status, 200);
    EXPECT_EQ(second->body, "again");
}

TEST(HttpLimits, ExpectContinueWithABodyOverTheLimitGets413Instead) {
    ul::HttpServerOptions options;
    options.max_body_bytes = 10;
    auto server = start_server(options);
    ASSERT_TRUE(server);
    Connection connection(server->address());
    connection.send(
        "POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 100\r\nExpect: 100-continue\r\n\r\n");
    const auto answer = connection.read(3s);
    ASSERT_TRUE(answer);
    EXPECT_EQ(answer->status, 413);
}

// POST /v1/events in front of an Ingest whose broker does not exist: the answers tested here
// come before anything is produced.
struct IngestServer {
    explicit IngestServer(std::size_t max_events = 10'000) {
        ul::IngestOptions options;
        options.bootstrap = "127.0.0.1:1";
        options.now_us = [] {
            return std::chrono::duration_cast<std::chrono::microseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                .count();
        };
        options.max_events_per_request = max_events;
        auto started = ul::Ingest::start(std::move(options));
        if (!started.ok()) {
            ADD_FAILURE() << started.error();
            return;
        }
        ingest = std::move(started).value();
        server = start_server();
        server->route_async(
            "POST", "/v1/events",
            [this](const ul::HttpRequest& request, const ul::HttpParams&,
                   const ul::HttpReply& reply) { ingest->handle(request, "", reply); });
    }

    std::optional<Response> post_events(std::string_view content_type, std::string_view body) {
        Connection connection(server->address());
        connection.send(post("/v1/events?wait=acknowledged", content_type, body));
        return connection.read();
    }

    std::unique_ptr<ul::Ingest> ingest;
    std::unique_ptr<ul::HttpServer> server;  // stopped first: no handler runs on a gone ingest
};

std::string ndjson_of_empty_objects(std::size_t count) {
    std::string body;
    body.reserve(count * 3);
    for (std::size_t index = 0; index < count; ++index) {
        body += "{}\n";
    }
    return body;
}

bool has(const std::string& text, std::string_view part) {
    return text.find(part) != std::string::npos;
}

TEST(IngestLimits, MoreEventsThanTheCapAre413BeforeAnythingIsProduced) {
    IngestServer fixture;
    ASSERT_TRUE(fixture.server);
    // 300 KB of "{}" lines: once answered 202 with a 10 MB per-event body.
    const auto flood =
        fixture.post_events("application/x-ndjson", ndjson_of_empty_objects(100'000));
    ASSERT_TRUE(flood);
    EXPECT_EQ(flood->status, 413);
    EXPECT_TRUE(has(flood->body, R"({"error":"too_many_events","detail":")")) << flood->body;
    EXPECT_TRUE(has(flood->body, "at most 10000 events per request")) << flood->body;
    EXPECT_LT(flood->body.size(), 512U);
    const auto one_over =
        fixture.post_events("application/x-ndjson", ndjson_of_empty_objects(10'001));
    ASSERT_TRUE(one_over);
    EXPECT_EQ(one_over->status, 413) << one_over->body.substr(0, 200);
    // At the cap the events are judged (and are all invalid here).
    const auto at_cap =
        fixture.post_events("application/x-ndjson", ndjson_of_empty_objects(10'000));
    ASSERT_TRUE(at_cap);
    EXPECT_EQ(at_cap->status, 400);
    EXPECT_TRUE(has(at_cap->body, R"({"index":9999,"status":"invalid")"));
}

TEST(IngestLimits, TheCapIsConfigurableAndCountsArrayElements) {
    IngestServer fixture(3);
    ASSERT_TRUE(fixture.server);
    const auto answer = fixture.post_events("application/json", "[{},{},{},{}]");
    ASSERT_TRUE(answer);
    EXPECT_EQ(answer->status, 413);
    EXPECT_TRUE(has(answer->body, R"("error":"too_many_events")")) << answer->body;
    EXPECT_TRUE(has(answer->body, "at most 3 events per request")) << answer->body;
    const auto within = fixture.post_events("application/json", "[{},{},{}]");
    ASSERT_TRUE(within);
    EXPECT_EQ(within->status, 400) << within->body;
}

TEST(IngestLimits, AllEventsInvalidIs400WithEachEventsError) {
    IngestServer fixture;
    ASSERT_TRUE(fixture.server);
    const auto array = fixture.post_events(
        "application/json",
        R"([{}, {"idempotency_key":"k","tenant_id":"acme","meter":"tokens","quantity":-5}])");
    ASSERT_TRUE(array);
    EXPECT_EQ(array->status, 400) << array->body;
    EXPECT_TRUE(has(array->body, R"({"error":"invalid_events","detail":"every event is invalid)"))
        << array->body;
    EXPECT_TRUE(has(array->body, R"("events":[{"index":0,"status":"invalid","error":")"))
        << array->body;
    EXPECT_TRUE(has(array->body, R"({"index":1,"status":"invalid","error":")")) << array->body;
    const auto one = fixture.post_events("application/json", R"({"tenant_id":"acme"})");
    ASSERT_TRUE(one);
    EXPECT_EQ(one->status, 400) << one->body;
    EXPECT_TRUE(has(one->body, R"("error":"invalid_events")")) << one->body;
}

}  // namespace
