// fake-stripe: the fake Stripe (fake_stripe.h) as a process, for shell tests. Prints its base URL
// on one line to stdout, then serves until SIGTERM or SIGINT.
//
//   fake-stripe [--port N] [--secret-key KEY] [--seed N] [--meter ID=EVENT_NAME]...
#include <CLI/CLI.hpp>

#include <csignal>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "tests/fakes/fake_stripe.h"

int main(int argc, char** argv) {
    CLI::App app{"A fake Stripe on 127.0.0.1 for tests"};
    ul::fakes::FakeStripeOptions options;
    std::vector<std::string> meters;
    app.add_option("--port", options.port, "port on 127.0.0.1 (0: any free port)");
    app.add_option("--secret-key", options.secret_key, "the API key requests must carry");
    app.add_option("--seed", options.seed, "seed of the random failures");
    app.add_option("--meter", meters, "a meter, as ID=EVENT_NAME (repeatable)");
    CLI11_PARSE(app, argc, argv);

    // Block the stop signals before any thread starts, so only sigwait below receives them.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

    auto fake = ul::fakes::FakeStripe::start(options);
    if (!fake) {
        std::cerr << "fake-stripe: " << fake.error() << "\n";
        return 1;
    }
    for (const std::string& meter : meters) {
        const auto equals = meter.find('=');
        if (equals == std::string::npos || equals == 0 || equals + 1 == meter.size()) {
            std::cerr << "fake-stripe: --meter wants ID=EVENT_NAME, got '" << meter << "'\n";
            return 2;
        }
        (*fake)->add_meter(meter.substr(0, equals), meter.substr(equals + 1));
    }
    std::cout << (*fake)->base_url() << std::endl;  // one line, flushed: the caller waits on it

    int received = 0;
    sigwait(&stop_signals, &received);
    std::cerr << "fake-stripe: stopping on signal " << received << "\n";
    return 0;
}
