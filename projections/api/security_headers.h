// The security headers every HttpServer answer carries, and CORS for an allow-list of origins.
// Pure: an answer and the request's Origin in, headers out (http_server.cpp calls these for every
// response and for OPTIONS preflights).
//  - X-Content-Type-Options: nosniff and Referrer-Policy: no-referrer, always.
//  - Content-Security-Policy: an answer that sets its own (the dashboard page) keeps it and gets
//    the frame-ancestors directive appended; any other answer gets "default-src 'none'" (JSON and
//    text are never documents to run). frame-ancestors is 'none' unless options name sources.
//  - CORS: a request whose Origin is exactly one of cors_origins gets
//    Access-Control-Allow-Origin: that origin (and Vary: Origin). Others get no CORS header, so
//    browsers keep cross-origin pages from reading answers.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "projections/api/http_server.h"

namespace ul {

// frame_ancestors: CSP sources ("https://app.example.com", "'self'"); empty: 'none'.
// cors_origins: exact origins ("https://app.example.com"); empty: no CORS.
std::string frame_ancestors_directive(const std::vector<std::string>& frame_ancestors);

void add_security_headers(const std::vector<std::string>& cors_origins,
                          const std::vector<std::string>& frame_ancestors,
                          std::optional<std::string_view> origin, HttpResponse& response);

// The answer to OPTIONS on a path with routes (`allowed_methods`: "GET, HEAD, POST"): 204 with
// Allow; for an allowed Origin also Access-Control-Allow-Methods, -Allow-Headers (Authorization,
// Content-Type, Idempotency-Key) and -Max-Age.
HttpResponse preflight_answer(const std::vector<std::string>& cors_origins,
                              std::optional<std::string_view> origin,
                              const std::string& allowed_methods);

// "sha256-<base64>" of `text`: a CSP source allowing exactly that inline script.
std::string csp_sha256_source(std::string_view text);

}  // namespace ul
