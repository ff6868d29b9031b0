// Child processes for integration tests: spawn the real `usage-ledger` binary, capture its
// output to files, wait with a deadline (never a bare sleep), kill -9 on demand.
// Not thread-safe; one ChildProcess per child.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace ul::test {

class ChildProcess {
  public:
    // Starts `argv[0]` with `argv`; stdout and stderr go to files in `log_dir`, named after `name`;
    // stdin comes from `stdin_path` when given, else /dev/null.
    ChildProcess(std::string name, std::vector<std::string> argv,
                 const std::filesystem::path& log_dir, const std::string& stdin_path = "");
    ~ChildProcess();  // kills (SIGKILL) and reaps if still running
    ChildProcess(const ChildProcess&) = delete;
    ChildProcess& operator=(const ChildProcess&) = delete;

    int pid() const { return pid_; }
    // Waits for exit up to `timeout`; the exit status (or 128 + signal), nullopt on timeout.
    std::optional<int> wait(std::chrono::milliseconds timeout);
    void signal(int signal_number);
    std::string stdout_text() const;
    std::string stderr_text() const;

  private:
    std::string name_;
    std::filesystem::path stdout_path_;
    std::filesystem::path stderr_path_;
    int pid_ = -1;
    std::optional<int> status_;
};

// Runs `argv` to its end (at most `timeout`); its stdout when it exited 0, else nullopt.
std::optional<std::string> run_and_capture(const std::string& name,
                                           const std::vector<std::string>& argv,
                                           const std::filesystem::path& log_dir,
                                           std::chrono::milliseconds timeout);

// Polls `text()` until the regular expression `pattern` matches it; its first group, or empty
// when `timeout` passes first (e.g. the address a child logged it listens on).
std::string wait_for_match(const std::function<std::string()>& text, const std::string& pattern,
                           std::chrono::milliseconds timeout);

// The query API address `project` logs on start ("query API on http://ADDRESS"); empty after
// `timeout`.
std::string logged_api_address(const ChildProcess& project, std::chrono::milliseconds timeout);

// The current UTC time as RFC 3339 with whole seconds ("2026-11-24T13:01:21Z").
std::string utc_now_rfc3339();

// Polls `condition` every few milliseconds until it holds or `timeout` passes.
bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout);

std::string read_file(const std::filesystem::path& path);

// A fresh directory under the system temp dir, removed by the destructor.
class TempDir {
  public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::filesystem::path& path() const { return path_; }

  private:
    std::filesystem::path path_;
};

}  // namespace ul::test
