#include "projections/api/security_headers.h"

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <algorithm>
#include <array>
#include <cstdint>

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
    // OpenSSL: the SHA-256 digest, then standard base64 with padding (what CSP expects).
    std::array<unsigned char, SHA256_DIGEST_LENGTH> digest{};
    SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest.data());
    std::array<unsigned char, 4 * ((SHA256_DIGEST_LENGTH + 2) / 3) + 1> encoded{};
    const int length = EVP_EncodeBlock(encoded.data(), digest.data(), SHA256_DIGEST_LENGTH);
    return "'sha256-" +
           std::string(reinterpret_cast<const char*>(encoded.data()),
                       static_cast<std::size_t>(length)) +
           "'";
}

}  // namespace ul
