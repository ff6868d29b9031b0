// post_webhook (projections/alerts/webhook.h) against a real HTTP server on 127.0.0.1:0: a
// plain Boost.Asio acceptor with Beast's parser, on its own thread, that records what it was
// sent and answers a chosen status, or accepts and never answers. Every wait has a deadline;
// nothing sleeps.
#include <gtest/gtest.h>

#include <unistd.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "projections/alerts/webhook.h"

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;
using boost::system::error_code;

constexpr auto kWait = 10s;  // the most any test waits for the server

// One connection on 127.0.0.1:<port>: `answer` reads the request, records it and answers
// `status`; `silent` accepts and keeps the connection open, answering nothing, until destroyed.
// All socket work runs on the server's own thread; the futures carry what it saw.
class LoopbackServer {
  public:
    enum class Mode { answer, silent };

    LoopbackServer(Mode mode, unsigned status) : mode_(mode), status_(status) {
        acceptor_.open(tcp::v4());
        acceptor_.bind(tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
        acceptor_.listen();
        acceptor_.async_accept(socket_, [this](const error_code& error) { on_accept(error); });
        thread_ = std::thread([this] { io_.run(); });
    }
    ~LoopbackServer() {
        io_.stop();
        thread_.join();
    }
    LoopbackServer(const LoopbackServer&) = delete;
    LoopbackServer& operator=(const LoopbackServer&) = delete;

    std::string url(const std::string& path = "/hook") const {
        return "http://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port()) + path;
    }
    std::future<void>& accepted() { return accepted_future_; }
    std::future<http::request<http::string_body>>& request() { return request_future_; }

  private:
    void on_accept(const error_code& error) {
        if (error) {
            return;
        }
        accepted_.set_value();
        if (mode_ == Mode::silent) {
            return;  // the socket stays open, unanswered, until the destructor
        }
        http::async_read(
            socket_, buffer_, request_, [this](const error_code& read_error, std::size_t) {
                if (read_error) {
                    error_code ignored;
                    socket_.close(ignored);
                    return;
                }
                request_promise_.set_value(request_);
                response_.result(status_);
                response_.set(http::field::content_type, "text/plain");
                response_.body() = "answered " + std::to_string(status_);
                response_.prepare_payload();
                http::async_write(socket_, response_, [this](const error_code&, std::size_t) {
                    error_code ignored;
                    socket_.shutdown(tcp::socket::shutdown_both, ignored);
                    socket_.close(ignored);
                });
            });
    }

    Mode mode_;
    unsigned status_;
    asio::io_context io_;
    tcp::acceptor acceptor_{io_};
    tcp::socket socket_{io_};
    beast::flat_buffer buffer_;
    http::request<http::string_body> request_;
    http::response<http::string_body> response_;
    std::promise<void> accepted_;
    std::future<void> accepted_future_ = accepted_.get_future();
    std::promise<http::request<http::string_body>> request_promise_;
    std::future<http::request<http::string_body>> request_future_ = request_promise_.get_future();
    std::thread thread_;
};

TEST(WebhookClient, DeliversTheExactBodyAndHeaders) {
    LoopbackServer server(LoopbackServer::Mode::answer, 200);
    const std::string body = R"({"alert":"quota","tenant":"acme","used":"80.5"})";
    const std::string signature = ul::webhook_signature("whsec_loopback", 1'700'000'000, body);
    const std::vector<std::pair<std::string, std::string>> headers = {
        {std::string(ul::kWebhookSignatureHeader), signature},
        {"Idempotency-Key", "alert-acme-r1-2024-05"},
    };
    const ul::WebhookResponse response =
        ul::post_webhook(server.url("/hooks/usage?x=1"), headers, body, 5s);
    EXPECT_EQ(response.status, 200) << response.error;
    EXPECT_TRUE(response.error.empty()) << response.error;
    EXPECT_FALSE(response.timed_out);
    EXPECT_EQ(ul::classify_delivery(response), ul::DeliveryVerdict::delivered);

    ASSERT_EQ(server.request().wait_for(kWait), std::future_status::ready);
    const auto request = server.request().get();
    EXPECT_EQ(request.method(), http::verb::post);
    EXPECT_EQ(request.target(), "/hooks/usage?x=1");
    EXPECT_EQ(request.body(), body);
    EXPECT_EQ(request[http::field::content_type], "application/json");
    EXPECT_EQ(request[http::field::content_length], std::to_string(body.size()));
    EXPECT_EQ(request[http::field::host], server.url("").substr(std::string("http://").size()));
    const std::string signature_header(ul::kWebhookSignatureHeader);
    EXPECT_EQ(request[signature_header], signature);
    EXPECT_EQ(request["Idempotency-Key"], "alert-acme-r1-2024-05");
    // What the receiver got verifies with the receiver's code.
    const auto verified = ul::verify_webhook_signature(
        "whsec_loopback", std::string(request[signature_header]), request.body(), 1'700'000'060);
    EXPECT_TRUE(verified.ok()) << verified.error();
}

TEST(WebhookClient, AServerErrorIsItsStatus) {
    LoopbackServer server(LoopbackServer::Mode::answer, 500);
    const ul::WebhookResponse response = ul::post_webhook(server.url(), {}, "{}", 5s);
    EXPECT_EQ(response.status, 500) << response.error;
    EXPECT_TRUE(response.error.empty());
    EXPECT_FALSE(response.timed_out);
    EXPECT_EQ(ul::classify_delivery(response), ul::DeliveryVerdict::retry);
}

TEST(WebhookClient, AGoneReceiverIsFinal) {
    LoopbackServer server(LoopbackServer::Mode::answer, 410);
    const ul::WebhookResponse response = ul::post_webhook(server.url(), {}, "{}", 5s);
    EXPECT_EQ(response.status, 410) << response.error;
    EXPECT_EQ(ul::classify_delivery(response), ul::DeliveryVerdict::failed);
}

TEST(WebhookClient, AReceiverThatNeverAnswersTimesOut) {
    LoopbackServer server(LoopbackServer::Mode::silent, 0);
    const auto started = std::chrono::steady_clock::now();
    const ul::WebhookResponse response = ul::post_webhook(server.url(), {}, "{}", 300ms);
    const auto took = std::chrono::steady_clock::now() - started;
    EXPECT_EQ(server.accepted().wait_for(kWait), std::future_status::ready);
    EXPECT_TRUE(response.timed_out);
    EXPECT_EQ(response.status, 0);
    EXPECT_NE(response.error.find("timed out after 300 ms while waiting for the answer"),
              std::string::npos)
        << response.error;
    EXPECT_GE(took, 300ms);
    EXPECT_LT(took, 5s);
    EXPECT_EQ(ul::classify_delivery(response), ul::DeliveryVerdict::retry);
}

TEST(WebhookClient, AClosedPortIsConnectionRefused) {
    std::string url;
    {
        asio::io_context io;
        tcp::acceptor closed(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
        url = "http://127.0.0.1:" + std::to_string(closed.local_endpoint().port()) + "/hook";
    }  // closed: nothing listens there now
    const ul::WebhookResponse response = ul::post_webhook(url, {}, "{}", 5s);
    EXPECT_EQ(response.status, 0);
    EXPECT_FALSE(response.timed_out);
    EXPECT_NE(response.error.find("refused"), std::string::npos) << response.error;
    EXPECT_EQ(ul::classify_delivery(response), ul::DeliveryVerdict::retry);
}

TEST(WebhookClient, HttpsToAServerWithoutTlsFailsTheHandshake) {
    LoopbackServer server(LoopbackServer::Mode::answer, 200);
    std::string url = server.url();
    url.replace(0, std::string("http").size(), "https");
    const ul::WebhookResponse response = ul::post_webhook(url, {}, "{}", 5s);
    EXPECT_EQ(response.status, 0);
    EXPECT_FALSE(response.timed_out) << response.error;
    EXPECT_NE(response.error.find("TLS handshake with 127.0.0.1"), std::string::npos)
        << response.error;
    EXPECT_EQ(server.request().wait_for(0s), std::future_status::timeout);  // nothing was sent
}

// A self-signed P-256 certificate for CN=localhost, subjectAltName IP:127.0.0.1 and DNS:localhost,
// valid until 2126, and its key (made once with `openssl req -x509 -newkey ec ... -days 36500`).
constexpr std::string_view kTestCertificate = R"(-----BEGIN CERTIFICATE-----
MIIBmzCCAUGgAwIBAgIUPfm83Vxl5ONUNTAQp91Ub/uhV58wCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJbG9jYWxob3N0MCAXDTI2MTIwNzA0MjYwMVoYDzIxMjYxMTEz
MDQyNjAxWjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAASUi8c1ahgskzPM5vS8DwMeDFeuYuubluiYMRdcCfHGY55VRq8j8oZ3
x8AZfj1/4iszmDMVvZJed997BfGblT8Bo28wbTAdBgNVHQ4EFgQUBQjnL3D5/mEx
QqYnzJZFBQRR3TwwHwYDVR0jBBgwFoAUBQjnL3D5/mExQqYnzJZFBQRR3TwwDwYD
VR0TAQH/BAUwAwEB/zAaBgNVHREEEzARhwR/AAABgglsb2NhbGhvc3QwCgYIKoZI
zj0EAwIDSAAwRQIgKDbre5SjNFUnnj9MX0LZ5gpTXbMqPI/Rzo8IcoFjticCIQCq
1lt9LJkrF2sHqGEGXjSs83uX1J10WWvHAN2CIckVDw==
-----END CERTIFICATE-----
)";
constexpr std::string_view kTestKey = R"(-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgRBw4SMtOzcpS3vzq
YVSF4nAyGcMpk0Ttmm3wCTX243GhRANCAASUi8c1ahgskzPM5vS8DwMeDFeuYuub
luiYMRdcCfHGY55VRq8j8oZ3x8AZfj1/4iszmDMVvZJed997BfGblT8B
-----END PRIVATE KEY-----
)";

// The same as LoopbackServer's `answer`, over TLS with kTestCertificate.
class TlsLoopbackServer {
  public:
    explicit TlsLoopbackServer(unsigned status) : status_(status) {
        acceptor_.open(tcp::v4());
        acceptor_.bind(tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
        acceptor_.listen();
        acceptor_.async_accept(stream_.next_layer(),
                               [this](const error_code& error) { on_accept(error); });
        thread_ = std::thread([this] { io_.run(); });
    }
    ~TlsLoopbackServer() {
        io_.stop();
        thread_.join();
    }
    TlsLoopbackServer(const TlsLoopbackServer&) = delete;
    TlsLoopbackServer& operator=(const TlsLoopbackServer&) = delete;

    std::string url(const std::string& host) const {
        return "https://" + host + ":" + std::to_string(acceptor_.local_endpoint().port()) +
               "/hook";
    }
    std::future<std::string>& body() { return body_future_; }

  private:
    static asio::ssl::context server_context() {
        asio::ssl::context context(asio::ssl::context::tls_server);
        context.use_certificate_chain(
            asio::buffer(kTestCertificate.data(), kTestCertificate.size()));
        context.use_private_key(asio::buffer(kTestKey.data(), kTestKey.size()),
                                asio::ssl::context::pem);
        return context;
    }

    void on_accept(const error_code& error) {
        if (error) {
            return;
        }
        stream_.async_handshake(asio::ssl::stream_base::server, [this](const error_code& tls) {
            if (tls) {
                error_code ignored;
                stream_.next_layer().close(ignored);
                return;
            }
            http::async_read(
                stream_, buffer_, request_, [this](const error_code& read_error, std::size_t) {
                    if (read_error) {
                        return;
                    }
                    body_promise_.set_value(request_.body());
                    response_.result(status_);
                    response_.prepare_payload();
                    http::async_write(stream_, response_, [](const error_code&, std::size_t) {});
                });
        });
    }

    unsigned status_;
    asio::io_context io_;
    // Made before stream_: an SSL object copies its context's certificate when it is made.
    asio::ssl::context tls_ = server_context();
    tcp::acceptor acceptor_{io_};
    asio::ssl::stream<tcp::socket> stream_{io_, tls_};
    beast::flat_buffer buffer_;
    http::request<http::string_body> request_;
    http::response<http::empty_body> response_;
    std::promise<std::string> body_promise_;
    std::future<std::string> body_future_ = body_promise_.get_future();
    std::thread thread_;
};

// SSL_CERT_FILE (read by OpenSSL's default verify paths) set to kTestCertificate while alive.
class TrustTestCertificate {
  public:
    TrustTestCertificate()
        : path_(std::filesystem::temp_directory_path() /
                ("webhook-test-ca-" + std::to_string(::getpid()) + ".pem")) {
        std::ofstream(path_) << kTestCertificate;
        ::setenv("SSL_CERT_FILE", path_.c_str(), 1);
    }
    ~TrustTestCertificate() {
        ::unsetenv("SSL_CERT_FILE");
        std::error_code ignored;
        std::filesystem::remove(path_, ignored);
    }
    TrustTestCertificate(const TrustTestCertificate&) = delete;
    TrustTestCertificate& operator=(const TrustTestCertificate&) = delete;

  private:
    std::filesystem::path path_;
};

TEST(WebhookClient, HttpsRefusesACertificateTheSystemDoesNotTrust) {
    TlsLoopbackServer server(200);
    const ul::WebhookResponse response = ul::post_webhook(server.url("127.0.0.1"), {}, "{}", 5s);
    EXPECT_EQ(response.status, 0);
    EXPECT_FALSE(response.timed_out);
    EXPECT_NE(response.error.find("certificate verify failed"), std::string::npos)
        << response.error;
    EXPECT_EQ(server.body().wait_for(0s), std::future_status::timeout);  // nothing was sent
}

TEST(WebhookClient, HttpsDeliversToATrustedCertificateByNameAndByAddress) {
    const TrustTestCertificate trusted;
    {
        TlsLoopbackServer server(204);
        const ul::WebhookResponse response =
            ul::post_webhook(server.url("localhost"), {}, R"({"over":"tls"})", 5s);
        EXPECT_EQ(response.status, 204) << response.error;
        ASSERT_EQ(server.body().wait_for(kWait), std::future_status::ready);
        EXPECT_EQ(server.body().get(), R"({"over":"tls"})");
    }
    {
        TlsLoopbackServer server(204);  // an IP address is checked against the IP SAN
        const ul::WebhookResponse response =
            ul::post_webhook(server.url("127.0.0.1"), {}, "{}", 5s);
        EXPECT_EQ(response.status, 204) << response.error;
    }
}

TEST(WebhookClient, RefusesBadUrlsAndHeadersWithoutConnecting) {
    const auto bad_url = ul::post_webhook("ftp://127.0.0.1/", {}, "{}", 1s);
    EXPECT_EQ(bad_url.status, 0);
    EXPECT_NE(bad_url.error.find("not http or https"), std::string::npos) << bad_url.error;
    LoopbackServer server(LoopbackServer::Mode::answer, 200);
    const auto bad_header =
        ul::post_webhook(server.url(), {{"X-Injected", "a\r\nEvil: yes"}}, "{}", 1s);
    EXPECT_EQ(bad_header.status, 0);
    EXPECT_NE(bad_header.error.find("CR, LF or NUL"), std::string::npos) << bad_header.error;
    EXPECT_EQ(server.accepted().wait_for(0s), std::future_status::timeout);
}

}  // namespace
