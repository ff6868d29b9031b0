#include "ops/control_secret.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "schemas/account.h"  // random_hex

namespace ul::ops {
namespace {

constexpr std::size_t kSecretBytes = 32;

bool is_hex_secret(const std::string& text) {
    return text.size() == kSecretBytes * 2 && std::all_of(text.begin(), text.end(), [](char c) {
               return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
           });
}

Result<bool, std::string> create_secret_file(const std::string& path) {
    std::string text = random_hex(kSecretBytes);
    if (text.empty()) {
        return unexpected(std::string("cannot make a control-plane secret: RAND_bytes failed"));
    }
    text.push_back('\n');
    const std::string temporary = path + ".tmp." + std::to_string(::getpid());
    const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        return unexpected("cannot create " + temporary + ": " + std::strerror(errno));
    }
    const bool written =
        ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
        ::fsync(fd) == 0;
    ::close(fd);
    if (!written) {
        ::unlink(temporary.c_str());
        return unexpected("cannot write " + temporary);
    }
    // link() fails when the file exists: whoever linked first made the secret everyone uses.
    const int linked = ::link(temporary.c_str(), path.c_str());
    const int link_errno = errno;
    ::unlink(temporary.c_str());
    if (linked != 0 && link_errno != EEXIST) {
        return unexpected("cannot create " + path + ": " + std::strerror(link_errno));
    }
    return true;
}

}  // namespace

std::string control_secret_path(const std::string& data_dir) {
    return (std::filesystem::path(data_dir) / kControlSecretFileName).string();
}

std::string default_account_secret_path(const KafkaOptions& kafka) {
    if (!kafka.bootstrap_file.empty()) {
        return (std::filesystem::path(kafka.bootstrap_file).parent_path() / kControlSecretFileName)
            .string();
    }
    return control_secret_path("data");
}

Result<std::string, std::string> load_control_secret(const std::string& path) {
    std::ifstream in(path);
    if (!in) {
        return unexpected("cannot read the control-plane secret " + path + ": " +
                          std::strerror(errno) +
                          " (`up` and `project` create it in their --data-dir; give "
                          "--control-secret-file)");
    }
    std::stringstream buffer;
    buffer << in.rdbuf();
    std::string text = buffer.str();
    const auto first = text.find_first_not_of(" \t\r\n");
    const auto last = text.find_last_not_of(" \t\r\n");
    text = first == std::string::npos ? "" : text.substr(first, last - first + 1);
    if (!is_hex_secret(text)) {
        return unexpected("the control-plane secret " + path + " is not 64 hex digits");
    }
    std::transform(text.begin(), text.end(), text.begin(), [](char c) {
        return c >= 'A' && c <= 'F' ? static_cast<char>(c - 'A' + 'a') : c;
    });
    return text;
}

Result<std::string, std::string> load_or_create_control_secret(const std::string& path) {
    std::error_code error;
    if (!std::filesystem::exists(path, error)) {
        if (const auto parent = std::filesystem::path(path).parent_path(); !parent.empty()) {
            std::filesystem::create_directories(parent, error);
        }
        if (auto created = create_secret_file(path); !created) {
            return unexpected(created.error());
        }
    }
    return load_control_secret(path);
}

}  // namespace ul::ops
