#include "projections/api/security_headers.h"

#include <algorithm>
#include <array>
#include <cstdint>

#include "schemas/account.h"  // sha256_hex

namespace ul {

namespace {

bool allowed_origin(const std::vector<std::string>& cors_origins,
                    std::optional<std::string_view> origin) {
    return origin &&
           std::find(cors_origins.begin(), cors_origins.end(), *origin) != cors_origins.end();
}

bool has_header(const HttpResponse& response, std::string_view name) {
    return std::any_of(response.headers.begin(), response.headers.end(),
                       [&](const auto& header) { return header.first == name; });
}

int hex_digit(char c) {
    return c <= '9' ? c - '0' : c - 'a' + 10;
}

std::string base64(const std::string& bytes) {
    static constexpr std::string_view kAlphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    for (std::size_t index = 0; index < bytes.size(); index += 3) {
        const std::size_t left = bytes.size() - index;
        std::uint32_t group = static_cast<std::uint8_t>(bytes[index]) << 16U;
        if (left > 1) {
            group |= static_cast<std::uint32_t>(static_cast<std::uint8_t>(bytes[index + 1])) << 8U;
        }
        if (left > 2) {
            group |= static_cast<std::uint8_t>(bytes[index + 2]);
        }
        out.push_back(kAlphabet[(group >> 18U) & 63U]);
        out.push_back(kAlphabet[(group >> 12U) & 63U]);
        out.push_back(left > 1 ? kAlphabet[(group >> 6U) & 63U] : '=');
        out.push_back(left > 2 ? kAlphabet[group & 63U] : '=');
    }
    return out;
}

}  // namespace

std::string frame_ancestors_directive(const std::vector<std::string>& frame_ancestors) {
    std::string directive = "frame-ancestors";
    if (frame_ancestors.empty()) {
        return directive + " 'none'";
    }
    for (const auto& source : frame_ancestors) {
        directive += " " + source;
    }
    return directive;
}

void add_security_headers(const std::vector<std::string>& cors_origins,
                          const std::vector<std::string>& frame_ancestors,
                          std::optional<std::string_view> origin, HttpResponse& response) {
    response.headers.emplace_back("X-Content-Type-Options", "nosniff");
    response.headers.emplace_back("Referrer-Policy", "no-referrer");
    const std::string ancestors = frame_ancestors_directive(frame_ancestors);
    auto own = std::find_if(response.headers.begin(), response.headers.end(),
                            [](const auto& h) { return h.first == "Content-Security-Policy"; });
    if (own != response.headers.end()) {
        own->second += "; " + ancestors;
    } else {
        response.headers.emplace_back("Content-Security-Policy",
                                      "default-src 'none'; " + ancestors);
    }
    if (allowed_origin(cors_origins, origin) &&
        !has_header(response, "Access-Control-Allow-Origin")) {
        response.headers.emplace_back("Access-Control-Allow-Origin", std::string(*origin));
        response.headers.emplace_back("Access-Control-Expose-Headers", "Retry-After");
    }
    if (!cors_origins.empty()) {
        response.headers.emplace_back("Vary", "Origin");
    }
}

HttpResponse preflight_answer(const std::vector<std::string>& cors_origins,
                              std::optional<std::string_view> origin,
                              const std::string& allowed_methods) {
    HttpResponse response;
    response.status = 204;
    response.content_type = "text/plain";
    response.headers.emplace_back("Allow", allowed_methods + ", OPTIONS");
    if (allowed_origin(cors_origins, origin)) {
        response.headers.emplace_back("Access-Control-Allow-Origin", std::string(*origin));
        response.headers.emplace_back("Access-Control-Allow-Methods", allowed_methods);
        response.headers.emplace_back("Access-Control-Allow-Headers",
                                      "Authorization, Content-Type, Idempotency-Key");
        response.headers.emplace_back("Access-Control-Max-Age", "600");
    }
    return response;
}

std::string csp_sha256_source(std::string_view text) {
    const std::string hex = sha256_hex(text);
    std::string bytes;
    for (std::size_t index = 0; index + 1 < hex.size(); index += 2) {
        bytes.push_back(static_cast<char>(hex_digit(hex[index]) * 16 + hex_digit(hex[index + 1])));
    }
    return "'sha256-" + base64(bytes) + "'";
}

}  // namespace ul
