# The HTTP layer of the query API (Boost.Beast), knowing nothing of usage: server, per-key rate
# limit, API keys (kept as SHA-256 hashes).
add_library(ul_api STATIC ${CMAKE_CURRENT_SOURCE_DIR}/http_server.cpp
                          ${CMAKE_CURRENT_SOURCE_DIR}/rate_limit.cpp
                          ${CMAKE_CURRENT_SOURCE_DIR}/api_keys.cpp)
target_link_libraries(ul_api PUBLIC ul_schemas spdlog::spdlog Boost::boost Threads::Threads)
