#include "tests/support/http_client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <cctype>

namespace ul::test {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;

HttpReply http_request(const std::string& address, const std::string& method,
                       const std::string& target,
                       const std::vector<std::pair<std::string, std::string>>& headers,
                       const std::string& body) {
    HttpReply reply;
    const auto colon = address.rfind(':');
    try {
        boost::asio::io_context io;
        tcp::resolver resolver(io);
        beast::tcp_stream stream(io);
        stream.expires_after(std::chrono::seconds(30));
        stream.connect(resolver.resolve(address.substr(0, colon), address.substr(colon + 1)));
        http::request<http::string_body> request{http::string_to_verb(method), target, 11};
        request.set(http::field::host, address);
        for (const auto& [name, value] : headers) {
            request.set(name, value);
        }
        request.body() = body;
        request.prepare_payload();
        http::write(stream, request);
        beast::flat_buffer buffer;
        http::response_parser<http::string_body> parser;
        parser.body_limit(64U << 20U);
        http::read(stream, buffer, parser);
        const auto& response = parser.get();
        reply.status = static_cast<int>(response.result_int());
        for (const auto& field : response) {
            std::string name(field.name_string());
            std::transform(name.begin(), name.end(), name.begin(),
                           [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
            reply.headers[name] = std::string(field.value());
        }
        reply.body = response.body();
        beast::error_code ignored;
        stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    } catch (const std::exception& error) {
        reply.status = 0;
        reply.error = error.what();
    }
    return reply;
}

HttpReply http_get(const std::string& address, const std::string& target, const std::string& key) {
    std::vector<std::pair<std::string, std::string>> headers;
    if (!key.empty()) {
        headers.emplace_back("Authorization", "Bearer " + key);
    }
    return http_request(address, "GET", target, headers);
}

}  // namespace ul::test
