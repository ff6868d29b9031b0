// Jobs: long admin work started over HTTP (reconcile, verify) run in the background, one at a
// time in submission order, with status and progress a person or a script can follow.
// Every job is a JSON file <dir>/<id>.json (the API's form), rewritten atomically (temp file,
// fsync, rename) when its state changes and at most once a second while it runs. At open, a job
// a crash left pending or running is marked failed with error "interrupted" — never resumed,
// never shown as running when nothing runs it.
// Kinds: "reconcile" {"tenant_id", "fix"} (ProjectionService::reconcile) and "verify" (replay up
// to a snapshot of the live store's watermarks into <dir>/<id>.replay, compare every cell,
// delete the rebuilt store). Cancelling a pending job ends it at once; a running one stops at
// its next chunk of entries.
// Threading: one worker thread; every public method is thread-safe.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "producers/uuid.h"
#include "schemas/result.h"

namespace ul {

class ProjectionService;
struct ReplayProgress;

enum class JobStatus : std::uint8_t { pending, running, completed, failed, cancelled };
std::string_view job_status_name(JobStatus status);

struct JobRequest {
    std::string kind;  // "reconcile" | "verify" | "replay"
    std::string tenant_id;
    bool fix = false;
};

struct Job {
    std::string id;
    JobRequest request;
    JobStatus status = JobStatus::pending;
    std::uint64_t entries_done = 0;
    std::uint64_t entries_total = 0;
    std::string result_json;  // an object, or empty
    std::string error;
    std::int64_t created_at_us = 0;
    std::int64_t started_at_us = 0;    // 0: not yet
    std::int64_t completed_at_us = 0;  // 0: not yet
};

// {id, kind, status, progress (0–100), entries_done, entries_total, params, result, error,
// created_at, started_at, completed_at} (times RFC 3339 or null).
std::string job_json(const Job& job);
// The request of a POST /v1/admin/jobs body ({"kind", "tenant_id"?, "fix"?}; a body without
// "kind" is of `default_kind`); the error text says what is wrong.
Result<JobRequest, std::string> parse_job_request(std::string_view body,
                                                  std::string_view default_kind = {});

// Does one job: its result object, or the error ("cancelled" once `cancel` was seen). Reports
// progress through the callback.
using JobPerformer = std::function<Result<std::string, std::string>(
    const Job& job, const std::function<void(const ReplayProgress&)>& progress,
    const std::atomic<bool>& cancel)>;
// Reconcile and verify on a running projection.
// The jobs of a projection: reconcile, verify (a scratch store under `scratch_dir`, the jobs
// dir, removed after), and replay (kept in replays_dir_of(scratch_dir)/<job id>: a data dir
// `export counters` reads; an interrupted replay leaves a partial one, named by the job).
JobPerformer projection_jobs(ProjectionService& projections, std::string scratch_dir);
std::string replays_dir_of(const std::string& jobs_dir);

class Jobs {
  public:
    struct Options {
        std::string dir;  // <data-dir>/jobs
        std::function<std::int64_t()> now_us;
    };
    static Result<std::unique_ptr<Jobs>, std::string> open(Options options, JobPerformer perform);
    ~Jobs();  // cancels the running job and joins the worker
    Jobs(const Jobs&) = delete;
    Jobs& operator=(const Jobs&) = delete;

    Result<Job, std::string> submit(JobRequest request);
    std::optional<Job> get(const std::string& id) const;
    // Newest first; empty filters match all.
    std::vector<Job> list(std::string_view kind, std::string_view status) const;
    // The job after the request; error "unknown" or "finished" (already ended).
    Result<Job, std::string> cancel(const std::string& id);

  private:
    Jobs(Options options, JobPerformer perform);
    Result<bool, std::string> load();
    void save(const Job& job) const;  // under mutex_
    void work();
    Options options_;
    JobPerformer perform_;
    mutable std::mutex mutex_;
    std::condition_variable wake_;
    std::map<std::string, Job> jobs_;
    std::deque<std::string> queue_;  // pending ids, oldest first
    std::string running_;            // id of the running job, empty when none
    std::atomic<bool> cancel_running_{false};
    bool stopping_ = false;
    UuidV7Generator ids_;
    std::thread worker_;
};

}  // namespace ul
