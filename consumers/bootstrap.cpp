#include "consumers/bootstrap.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace ul::kafka {

Result<std::string, std::string> resolve_bootstrap(const std::string& bootstrap,
                                                   const std::string& bootstrap_file) {
    if (!bootstrap.empty() && !bootstrap_file.empty()) {
        return unexpected(std::string("give --bootstrap or --bootstrap-file, not both"));
    }
    if (bootstrap.empty() && bootstrap_file.empty()) {
        return unexpected(
            std::string("where is Kafka? give --bootstrap HOST:PORT or --bootstrap-file F "
                        "(the file `usage-ledger broker` or `up` writes, e.g. data/bootstrap)"));
    }
    if (!bootstrap.empty()) {
        return bootstrap;
    }
    std::ifstream in(bootstrap_file);
    if (!in) {
        return unexpected("cannot read bootstrap file " + bootstrap_file + ": " +
                          std::strerror(errno) + " (is `usage-ledger broker` or `up` running?)");
    }
    std::stringstream content;
    content << in.rdbuf();
    std::string text = content.str();
    const auto first = text.find_first_not_of(" \t\r\n");
    if (first == std::string::npos) {
        return unexpected("bootstrap file " + bootstrap_file + " is empty");
    }
    const auto last = text.find_last_not_of(" \t\r\n");
    text = text.substr(first, last - first + 1);
    if (text.find_first_of(" \t\r\n") != std::string::npos || text.find(':') == std::string::npos) {
        return unexpected("bootstrap file " + bootstrap_file +
                          " does not hold HOST:PORT[,HOST:PORT]");
    }
    return text;
}

}  // namespace ul::kafka
