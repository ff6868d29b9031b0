#include "projections/api/jobs.h"

#include <fcntl.h>
#include <simdjson.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "projections/counters/projection_service.h"
#include "schemas/canonical.h"
#include "schemas/time.h"

namespace ul {
namespace {

constexpr std::string_view kStatusNames[] = {"pending", "running", "completed", "failed",
                                             "cancelled"};

std::optional<JobStatus> status_of(std::string_view name) {
    for (std::size_t index = 0; index < std::size(kStatusNames); ++index) {
        if (kStatusNames[index] == name) {
            return static_cast<JobStatus>(index);
        }
    }
    return std::nullopt;
}

bool finished(JobStatus status) {
    return status == JobStatus::completed || status == JobStatus::failed ||
           status == JobStatus::cancelled;
}

void append_time(std::string& out, std::int64_t us) {
    if (us == 0) {
        out += "null";
    } else {
        out += '"' + format_rfc3339(us) + '"';
    }
}

// The API form, plus the times in µs when `stored` (read back by Jobs::load).
std::string render(const Job& job, bool stored) {
    std::string out = "{\"id\":";
    append_json_string(out, job.id);
    out += ",\"kind\":";
    append_json_string(out, job.request.kind);
    out += ",\"status\":\"" + std::string(job_status_name(job.status)) + "\"";
    const std::uint64_t progress =
        job.status == JobStatus::completed ? 100
        : job.entries_total == 0
            ? 0
            : std::min<std::uint64_t>(99, job.entries_done * 100 / job.entries_total);
    out += ",\"progress\":" + std::to_string(progress);
    out += ",\"entries_done\":" + std::to_string(job.entries_done);
    out += ",\"entries_total\":" + std::to_string(job.entries_total);
    out += ",\"params\":{";
    if (job.request.kind == "reconcile") {
        out += "\"tenant_id\":";
        append_json_string(out, job.request.tenant_id);
        out += job.request.fix ? ",\"fix\":true" : ",\"fix\":false";
    }
    out += "},\"result\":";
    out += job.result_json.empty() ? "null" : job.result_json;
    out += ",\"error\":";
    if (job.error.empty()) {
        out += "null";
    } else {
        append_json_string(out, job.error);
    }
    out += ",\"created_at\":";
    append_time(out, job.created_at_us);
    out += ",\"started_at\":";
    append_time(out, job.started_at_us);
    out += ",\"completed_at\":";
    append_time(out, job.completed_at_us);
    if (stored) {
        out += ",\"created_at_us\":" + std::to_string(job.created_at_us) +
               ",\"started_at_us\":" + std::to_string(job.started_at_us) +
               ",\"completed_at_us\":" + std::to_string(job.completed_at_us);
    }
    out += "}";
    return out;
}

// A field a record may lack (an older or partly written file): left as it is then.
template <typename T>
void optional_field(const simdjson::dom::element& document, const char* name, T& out) {
    T value{};
    if (document[name].get(value) == simdjson::SUCCESS) {
        out = value;
    }
}

Result<Job, std::string> parse_stored(std::string_view text) {
    simdjson::dom::parser parser;
    simdjson::dom::element document;
    if (parser.parse(text.data(), text.size()).get(document) != simdjson::SUCCESS) {
        return unexpected(std::string("not JSON"));
    }
    Job job;
    std::string_view id;
    std::string_view kind;
    std::string_view status;
    if (document["id"].get(id) != simdjson::SUCCESS ||
        document["kind"].get(kind) != simdjson::SUCCESS ||
        document["status"].get(status) != simdjson::SUCCESS || !status_of(status)) {
        return unexpected(std::string("no id, kind or status"));
    }
    job.id = std::string(id);
    job.request.kind = std::string(kind);
    job.status = *status_of(status);
    std::string_view tenant;
    if (document["params"]["tenant_id"].get(tenant) == simdjson::SUCCESS) {
        job.request.tenant_id = std::string(tenant);
    }
    bool fix = false;
    if (document["params"]["fix"].get(fix) == simdjson::SUCCESS) {
        job.request.fix = fix;
    }
    optional_field(document, "entries_done", job.entries_done);
    optional_field(document, "entries_total", job.entries_total);
    simdjson::dom::element result;
    if (document["result"].get(result) == simdjson::SUCCESS && !result.is_null()) {
        job.result_json = simdjson::minify(result);
    }
    std::string_view error;
    if (document["error"].get(error) == simdjson::SUCCESS) {
        job.error = std::string(error);
    }
    optional_field(document, "created_at_us", job.created_at_us);
    optional_field(document, "started_at_us", job.started_at_us);
    optional_field(document, "completed_at_us", job.completed_at_us);
    return job;
}

}  // namespace

std::string_view job_status_name(JobStatus status) {
    return kStatusNames[static_cast<std::size_t>(status)];
}

std::string job_json(const Job& job) {
    return render(job, false);
}

Result<JobRequest, std::string> parse_job_request(std::string_view body,
                                                  std::string_view default_kind) {
    simdjson::dom::parser parser;
    simdjson::dom::element document;
    simdjson::dom::object object;
    if (parser.parse(body.data(), body.size()).get(document) != simdjson::SUCCESS ||
        document.get_object().get(object) != simdjson::SUCCESS) {
        return unexpected(std::string("the body must be a JSON object"));
    }
    JobRequest request;
    request.kind = std::string(default_kind);
    for (const auto field : object) {
        const std::string_view key = field.key;
        std::string_view text;
        if (key == "kind") {
            if (field.value.get(text) != simdjson::SUCCESS) {
                return unexpected(std::string("kind: must be a string"));
            }
            request.kind = std::string(text);
        } else if (key == "tenant_id") {
            if (field.value.get(text) != simdjson::SUCCESS || text.empty() || text.size() > 64) {
                return unexpected(std::string("tenant_id: a string of 1-64 bytes"));
            }
            request.tenant_id = std::string(text);
        } else if (key == "fix") {
            if (field.value.get(request.fix) != simdjson::SUCCESS) {
                return unexpected(std::string("fix: must be true or false"));
            }
        } else {
            return unexpected("unknown field " + std::string(key) +
                              " (kind, tenant_id, fix are known)");
        }
    }
    if (request.kind != "reconcile" && request.kind != "verify" && request.kind != "replay") {
        return unexpected(std::string("kind: one of reconcile, verify, replay"));
    }
    if (request.kind == "reconcile" && request.tenant_id.empty()) {
        return unexpected(std::string("reconcile needs tenant_id"));
    }
    if (request.kind != "reconcile" && (!request.tenant_id.empty() || request.fix)) {
        return unexpected(request.kind + " takes no tenant_id or fix (it covers every cell)");
    }
    return request;
}

Jobs::Jobs(Options options, JobPerformer perform)
    : options_(std::move(options)), perform_(std::move(perform)) {}

Result<std::unique_ptr<Jobs>, std::string> Jobs::open(Options options, JobPerformer perform) {
    std::unique_ptr<Jobs> jobs(new Jobs(std::move(options), std::move(perform)));
    std::error_code error;
    std::filesystem::create_directories(jobs->options_.dir, error);
    if (error) {
        return unexpected("cannot create " + jobs->options_.dir + ": " + error.message());
    }
    if (auto loaded = jobs->load(); !loaded) {
        return unexpected(loaded.error());
    }
    jobs->worker_ = std::thread([raw = jobs.get()] { raw->work(); });
    return jobs;
}

Jobs::~Jobs() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
        cancel_running_.store(true);
    }
    wake_.notify_all();
    if (worker_.joinable()) {
        worker_.join();
    }
}

Result<bool, std::string> Jobs::load() {
    std::error_code error;
    for (const auto& entry : std::filesystem::directory_iterator(options_.dir, error)) {
        const auto& path = entry.path();
        if (path.extension() == ".replay") {
            std::filesystem::remove_all(path, error);  // a verify's store left by a crash
            continue;
        }
        if (path.extension() != ".json") {
            continue;
        }
        std::ifstream in(path);
        std::stringstream text;
        text << in.rdbuf();
        auto job = parse_stored(text.str());
        if (!job) {
            spdlog::warn("jobs: {}: {}; ignored", path.string(), job.error());
            continue;
        }
        if (!finished(job->status)) {
            job->status = JobStatus::failed;
            job->error = "interrupted";
            job->completed_at_us = options_.now_us();
            save(*job);
        }
        jobs_[job->id] = std::move(job).value();
    }
    if (error) {
        return unexpected("cannot read " + options_.dir + ": " + error.message());
    }
    return true;
}

void Jobs::save(const Job& job) const {
    const std::string path = options_.dir + "/" + job.id + ".json";
    const std::string temporary = path + ".tmp";
    const std::string text = render(job, true) + "\n";
    const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    bool written = fd >= 0 &&
                   ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
                   ::fsync(fd) == 0;
    if (fd >= 0) {
        written = ::close(fd) == 0 && written;
    }
    if (!written || std::rename(temporary.c_str(), path.c_str()) != 0) {
        spdlog::error("jobs: cannot write {}: {}", path, std::strerror(errno));
    }
}

Result<Job, std::string> Jobs::submit(JobRequest request) {
    std::lock_guard lock(mutex_);
    Job job;
    job.id = ids_.next();
    job.request = std::move(request);
    job.created_at_us = options_.now_us();
    save(job);
    jobs_[job.id] = job;
    queue_.push_back(job.id);
    wake_.notify_all();
    return job;
}

std::optional<Job> Jobs::get(const std::string& id) const {
    std::lock_guard lock(mutex_);
    const auto found = jobs_.find(id);
    if (found == jobs_.end()) {
        return std::nullopt;
    }
    return found->second;
}

std::vector<Job> Jobs::list(std::string_view kind, std::string_view status) const {
    std::lock_guard lock(mutex_);
    std::vector<Job> out;
    for (auto it = jobs_.rbegin(); it != jobs_.rend(); ++it) {  // UUIDv7: newest last
        const Job& job = it->second;
        if ((kind.empty() || job.request.kind == kind) &&
            (status.empty() || job_status_name(job.status) == status)) {
            out.push_back(job);
        }
    }
    return out;
}

Result<Job, std::string> Jobs::cancel(const std::string& id) {
    std::lock_guard lock(mutex_);
    const auto found = jobs_.find(id);
    if (found == jobs_.end()) {
        return unexpected(std::string("unknown"));
    }
    Job& job = found->second;
    if (finished(job.status)) {
        return unexpected(std::string("finished"));
    }
    if (job.status == JobStatus::pending) {
        queue_.erase(std::remove(queue_.begin(), queue_.end(), id), queue_.end());
        job.status = JobStatus::cancelled;
        job.completed_at_us = options_.now_us();
        save(job);
    } else if (running_ == id) {
        cancel_running_.store(true);  // the worker records the end
    }
    return job;
}

void Jobs::work() {
    while (true) {
        Job job;
        {
            std::unique_lock lock(mutex_);
            wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
            if (stopping_) {
                return;  // a running job was interrupted: load() marks it at the next start
            }
            const std::string id = queue_.front();
            queue_.pop_front();
            Job& stored = jobs_.at(id);
            stored.status = JobStatus::running;
            stored.started_at_us = options_.now_us();
            running_ = id;
            cancel_running_.store(false);
            save(stored);
            job = stored;
        }
        spdlog::info("jobs: {} {} started", job.request.kind, job.id);
        auto last_saved = std::chrono::steady_clock::now();
        auto progress = [&](const ReplayProgress& progress) {
            std::lock_guard lock(mutex_);
            Job& stored = jobs_.at(job.id);
            stored.entries_done = progress.entries_done;
            stored.entries_total = progress.entries_total;
            if (std::chrono::steady_clock::now() - last_saved >= std::chrono::seconds(1)) {
                last_saved = std::chrono::steady_clock::now();
                save(stored);
            }
        };
        auto result = perform_(job, progress, cancel_running_);
        std::lock_guard lock(mutex_);
        Job& stored = jobs_.at(job.id);
        running_.clear();
        if (stopping_) {
            return;  // interrupted by the shutdown: not an outcome of the job
        }
        stored.completed_at_us = options_.now_us();
        if (result) {
            stored.status = JobStatus::completed;
            stored.result_json = std::move(result).value();
            stored.entries_done = stored.entries_total;
        } else if (cancel_running_.load() && result.error() == "cancelled") {
            stored.status = JobStatus::cancelled;
        } else {
            stored.status = JobStatus::failed;
            stored.error = result.error();
        }
        save(stored);
        spdlog::info("jobs: {} {} {}{}", stored.request.kind, stored.id,
                     job_status_name(stored.status),
                     stored.error.empty() ? "" : ": " + stored.error);
    }
}

std::string replays_dir_of(const std::string& jobs_dir) {
    return (std::filesystem::path(jobs_dir).parent_path() / "replays").string();
}

JobPerformer projection_jobs(ProjectionService& projections, std::string scratch_dir) {
    return [&projections, scratch_dir](
               const Job& job, const std::function<void(const ReplayProgress&)>& progress,
               const std::atomic<bool>& cancel) -> Result<std::string, std::string> {
        if (job.request.kind == "reconcile") {
            auto report =
                projections.reconcile(job.request.tenant_id, job.request.fix, progress, &cancel);
            if (!report) {
                return unexpected(report.error());
            }
            return reconcile_json(*report);
        }
        if (job.request.kind == "replay") {
            // Kept: <jobs dir>/../replays/<id> is a store `export counters --data-dir` reads.
            const std::string out = replays_dir_of(scratch_dir) + "/" + job.id;
            auto report = projections.replay_into(out + "/projections", progress, &cancel);
            if (!report) {
                return unexpected(report.error());
            }
            std::string result = "{\"data_dir\":";
            append_json_string(result, out);
            result += ",\"entries\":" + std::to_string(report->entries) +
                      ",\"writes\":" + std::to_string(report->writes) + "}";
            return result;
        }
        auto comparison =
            projections.verify(scratch_dir + "/" + job.id + ".replay", progress, &cancel);
        if (!comparison) {
            return unexpected(comparison.error());
        }
        std::string out = "{\"cells_compared\":" + std::to_string(comparison->cells_compared) +
                          ",\"differences\":" + std::to_string(comparison->total) + ",\"cells\":[";
        for (std::size_t index = 0; index < comparison->differences.size(); ++index) {
            if (index > 0) {
                out += ",";
            }
            append_json_string(out, describe(comparison->differences[index]));
        }
        out += "]}";
        return out;
    };
}

}  // namespace ul
