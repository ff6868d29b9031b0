// A small blocking HTTP/1.1 client for tests (Boost.Beast over a real TCP socket): one request per
// connection unless a Connection is reused through HttpConnection.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace ul::test {

struct HttpReply {
    int status = 0;                              // 0: no answer (connection failed or closed)
    std::map<std::string, std::string> headers;  // names lowercased
    std::string body;
    std::string error;  // why status is 0
};

// `address` is "host:port". Headers are sent as given (Host and Content-Length are added).
HttpReply http_request(const std::string& address, const std::string& method,
                       const std::string& target,
                       const std::vector<std::pair<std::string, std::string>>& headers = {},
                       const std::string& body = "");

// GET with "Authorization: Bearer <key>" when key is not empty.
HttpReply http_get(const std::string& address, const std::string& target,
                   const std::string& key = "");

}  // namespace ul::test
