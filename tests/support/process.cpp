#include "tests/support/process.h"

#include <ctime>
#include <regex>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace ul::test {

ChildProcess::ChildProcess(std::string name, std::vector<std::string> argv,
                           const std::filesystem::path& log_dir, const std::string& stdin_path)
    : name_(std::move(name)),
      stdout_path_(log_dir / (name_ + ".stdout")),
      stderr_path_(log_dir / (name_ + ".stderr")) {
    std::vector<char*> raw;
    raw.reserve(argv.size() + 1);
    for (auto& argument : argv) {
        raw.push_back(argument.data());
    }
    raw.push_back(nullptr);
    const int out = ::open(stdout_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    const int err = ::open(stderr_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    const int in =
        ::open(stdin_path.empty() ? "/dev/null" : stdin_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (out < 0 || err < 0 || in < 0) {
        throw std::runtime_error("cannot open child log files in " + log_dir.string());
    }
    pid_ = ::fork();
    if (pid_ == 0) {
        ::dup2(in, 0);
        ::dup2(out, 1);
        ::dup2(err, 2);
        ::setpgid(0, 0);
        ::execv(raw[0], raw.data());
        ::_exit(127);
    }
    ::close(out);
    ::close(err);
    ::close(in);
    if (pid_ < 0) {
        throw std::runtime_error("fork failed");
    }
}

ChildProcess::~ChildProcess() {
    if (!status_) {
        ::kill(pid_, SIGKILL);
        int status = 0;
        ::waitpid(pid_, &status, 0);
    }
}

std::optional<int> ChildProcess::wait(std::chrono::milliseconds timeout) {
    if (status_) {
        return status_;
    }
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
        int status = 0;
        const int got = ::waitpid(pid_, &status, WNOHANG);
        if (got == pid_) {
            status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            return status_;
        }
        if (std::chrono::steady_clock::now() >= deadline) {
            return std::nullopt;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
}

void ChildProcess::signal(int signal_number) {
    if (!status_) {
        ::kill(pid_, signal_number);
    }
}

std::string ChildProcess::stdout_text() const {
    return read_file(stdout_path_);
}
std::string ChildProcess::stderr_text() const {
    return read_file(stderr_path_);
}

std::optional<std::string> run_and_capture(const std::string& name,
                                           const std::vector<std::string>& argv,
                                           const std::filesystem::path& log_dir,
                                           std::chrono::milliseconds timeout) {
    ChildProcess child(name, argv, log_dir);
    const auto status = child.wait(timeout);
    if (!status || *status != 0) {
        return std::nullopt;
    }
    return child.stdout_text();
}

std::string wait_for_match(const std::function<std::string()>& text, const std::string& pattern,
                           std::chrono::milliseconds timeout) {
    const std::regex expression(pattern);
    std::string found;
    wait_until(
        [&] {
            std::smatch match;
            const std::string current = text();
            if (std::regex_search(current, match, expression) && match.size() > 1) {
                found = match[1];
                return true;
            }
            return false;
        },
        timeout);
    return found;
}

std::string logged_api_address(const ChildProcess& project, std::chrono::milliseconds timeout) {
    return wait_for_match([&] { return project.stderr_text(); },
                          "query API on http://([0-9.]+:[0-9]+)", timeout);
}

std::string utc_now_rfc3339() {
    const std::time_t seconds = std::time(nullptr);
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&seconds));
    return text;
}

bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!condition()) {
        if (std::chrono::steady_clock::now() >= deadline) {
            return false;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return true;
}

std::string read_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream buffer;
    buffer << in.rdbuf();
    return buffer.str();
}

TempDir::TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "usage-ledger-test-XXXXXX");
    if (::mkdtemp(pattern.data()) == nullptr) {
        throw std::runtime_error("mkdtemp failed");
    }
    path_ = pattern;
}

TempDir::~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
}

}  // namespace ul::test
