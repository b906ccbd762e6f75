// The host against a hostile worker (src/workers/testdata/hostile_worker.c): duplicate and late
// completions, writes after completion, never-completing calls, forged and stale handles, stale calls,
// log injection, oversized results, bad statuses and headers.
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <climits>
#include <random>
#include <sstream>
#include <thread>

#include "workers/host.hpp"
#include "workers/module.hpp"
#include "workers/results.hpp"
#include "workers/test_support.hpp"

namespace workgate::workers {
namespace {

using namespace std::chrono_literals;

using test_support::function;

std::shared_ptr<WorkerInstance> hostile() {
  WorkerInstance::Options options;
  options.binding = "HOSTILE";
  return test_support::load(WG_TEST_HOSTILE, std::move(options));
}

int late_completions() {
  void* handle = dlopen(WG_TEST_HOSTILE, RTLD_NOW | RTLD_NOLOAD);
  EXPECT_NE(handle, nullptr);
  auto fn = reinterpret_cast<int (*)()>(dlsym(handle, "workgate_test_late_completions"));
  EXPECT_NE(fn, nullptr);
  int n = fn != nullptr ? fn() : -1;
  dlclose(handle);
  return n;
}

// One request: its body and query.
struct Req {
  http::Request request;
  CallInput input;
  explicit Req(std::string body, std::string query = {}) {
    request.method = "POST";
    request.path = "/h";
    request.query = std::move(query);
    request.has_query = !request.query.empty();
    request.body = std::move(body);
    input.request = &request;
    input.route_path = "/h";
  }
};

template <typename Pred>
bool run_until(boost::asio::io_context& io, Pred done, std::chrono::milliseconds limit = 3000ms) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  io.restart();
  while (!done() && std::chrono::steady_clock::now() < deadline) {
    io.run_for(2ms);
    io.restart();
  }
  return done();
}

template <typename Pred>
bool wait_for(Pred done, std::chrono::milliseconds limit = 3000ms) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(1ms);
  return done();
}

// Waits until no hostile thread of an earlier test is still using stale handles.
void settle() {
  for (int i = 0; i < 100; ++i) {
    std::uint64_t before = stale_handle_uses();
    std::this_thread::sleep_for(60ms);
    if (stale_handle_uses() == before) return;
  }
}

// An asynchronous call armed on `io`; `got` is set once.
struct Pending {
  std::optional<Outcome> got;
  std::weak_ptr<AsyncState> state;
  int deliveries = 0;
};

void start(Pending& p, const BoundFunction& fn, const CallInput& input, boost::asio::io_context& io,
           std::chrono::milliseconds timeout) {
  Invocation inv = invoke(fn, input);
  ASSERT_TRUE(inv.pending) << (inv.done ? inv.done->result.value : "");
  p.state = inv.pending;
  arm(inv.pending, io, timeout, [&p](Outcome o) {
    ++p.deliveries;
    p.got = std::move(o);
  });
}

Outcome run_sync(const BoundFunction& fn, const CallInput& input) {
  Invocation inv = invoke(fn, input);
  EXPECT_FALSE(inv.pending);
  EXPECT_TRUE(inv.done);
  return inv.done ? std::move(*inv.done) : Outcome{};
}

// ------------------------------------------------------------------------------- completion contract

TEST(Hostile, CompletingTwiceNeverReachesAnotherCall) {
  auto worker = hostile();
  auto twice = function(worker, "complete_twice");
  auto echo = function(worker, "echo_later");
  std::uint64_t stale = stale_handle_uses();
  std::size_t open = open_async_calls();
  boost::asio::io_context io;
  for (int round = 0; round < 20; ++round) {
    Req bad("twice-" + std::to_string(round), "d=0");
    Req good("victim-" + std::to_string(round), "d=8");
    Pending a, b;
    start(a, twice, bad.input, io, 2000ms);
    run_until(io, [&] { return a.got.has_value(); });
    start(b, echo, good.input, io, 2000ms);  // the next defer(): reuses the slot the first call had
    ASSERT_TRUE(run_until(io, [&] { return b.got.has_value(); }));
    ASSERT_EQ(a.got->status, Outcome::Status::kOk);
    EXPECT_EQ(a.got->result.value, bad.request.body);
    ASSERT_EQ(b.got->status, Outcome::Status::kOk) << b.got->result.value;
    EXPECT_EQ(b.got->result.kind, ResultData::Kind::kString);
    EXPECT_EQ(b.got->result.value, good.request.body);
    EXPECT_EQ(a.deliveries, 1);
    EXPECT_EQ(b.deliveries, 1);
  }
  // Every hostile thread completes 23 times: 22 of them are ignored.
  EXPECT_TRUE(wait_for([&] { return stale_handle_uses() - stale >= 20u * 22u; }));
  EXPECT_EQ(open_async_calls(), open);
}

TEST(Hostile, WritesAfterCompletingNeverReachAnotherCall) {
  auto worker = hostile();
  auto writer = function(worker, "write_after_complete");
  auto echo = function(worker, "echo_later");
  std::uint64_t stale = stale_handle_uses();
  boost::asio::io_context io;
  for (int round = 0; round < 20; ++round) {
    Req bad("hostile-" + std::to_string(round), "d=0");
    Req good("victim-" + std::to_string(round), "d=10");
    Pending a, b;
    start(a, writer, bad.input, io, 2000ms);
    run_until(io, [&] { return a.got.has_value(); });
    start(b, echo, good.input, io, 2000ms);
    ASSERT_TRUE(run_until(io, [&] { return b.got.has_value(); }));
    EXPECT_EQ(a.got->result.value, bad.request.body);
    ASSERT_EQ(b.got->status, Outcome::Status::kOk) << b.got->result.value;
    const ResultData& r = b.got->result;
    EXPECT_EQ(r.kind, ResultData::Kind::kString);
    EXPECT_EQ(r.value, good.request.body);
    EXPECT_TRUE(r.response_ops.empty());
    EXPECT_TRUE(r.request_ops.empty());
    EXPECT_FALSE(r.response_body || r.request_body || r.path || r.query);
    EXPECT_EQ(r.status, 0);
  }
  EXPECT_GT(stale_handle_uses() - stale, 20u);
}

TEST(Hostile, CompletionsFromManyThreadsAtOnce) {
  auto worker = hostile();
  auto twice = function(worker, "complete_twice");
  auto writer = function(worker, "write_after_complete");
  auto echo = function(worker, "echo_later");
  std::atomic<int> wrong{0}, right{0};
  std::vector<std::thread> loops;
  for (int t = 0; t < 3; ++t) {
    loops.emplace_back([&, t] {
      boost::asio::io_context io;
      for (int round = 0; round < 15; ++round) {
        std::vector<std::unique_ptr<Req>> reqs;
        std::vector<std::unique_ptr<Pending>> pending;
        for (int k = 0; k < 6; ++k) {
          std::string body =
              "t" + std::to_string(t) + "-r" + std::to_string(round) + "-k" + std::to_string(k);
          reqs.push_back(std::make_unique<Req>(body, k % 3 == 2 ? "d=3" : "d=0"));
          pending.push_back(std::make_unique<Pending>());
          const BoundFunction& fn = k % 3 == 0 ? twice : k % 3 == 1 ? writer : echo;
          start(*pending.back(), fn, reqs.back()->input, io, 2000ms);
        }
        run_until(io, [&] {
          for (auto& p : pending)
            if (!p->got) return false;
          return true;
        });
        for (std::size_t k = 0; k < pending.size(); ++k) {
          bool ok = pending[k]->got && pending[k]->got->status == Outcome::Status::kOk &&
                    pending[k]->got->result.value == reqs[k]->request.body && pending[k]->deliveries == 1;
          ++(ok ? right : wrong);
        }
      }
    });
  }
  for (auto& l : loops)
    l.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(right.load(), 3 * 15 * 6);
}

TEST(Hostile, CompletingInsideTheCallThenAgain) {
  auto worker = hostile();
  settle();
  std::uint64_t stale = stale_handle_uses();
  boost::asio::io_context io;
  Req req("early body");
  Pending p;
  start(p, function(worker, "complete_early_twice"), req.input, io, 2000ms);
  // set_body, return_string and the second complete came after the first complete().
  EXPECT_EQ(stale_handle_uses() - stale, 3u);
  ASSERT_TRUE(run_until(io, [&] { return p.got.has_value(); }));
  EXPECT_EQ(p.got->status, Outcome::Status::kOk);
  EXPECT_EQ(p.got->result.value, "early body");
  EXPECT_FALSE(p.got->result.response_body);
}

TEST(Hostile, CompletionAfterTheTimeoutIsStaleAndTheStateIsFreedAtTheTimeout) {
  auto worker = hostile();
  settle();
  std::uint64_t stale = stale_handle_uses();
  std::size_t open = open_async_calls();
  int late = late_completions();
  boost::asio::io_context io;
  Req req("late body", "d=150");
  Pending p;
  start(p, function(worker, "complete_after_timeout"), req.input, io, 20ms);
  EXPECT_EQ(open_async_calls(), open + 1);
  ASSERT_TRUE(run_until(io, [&] { return p.got.has_value(); }));
  EXPECT_EQ(p.got->status, Outcome::Status::kTimeout);
  // Freed at the timeout, before the worker lets go of its handle.
  EXPECT_TRUE(p.state.expired());
  EXPECT_EQ(open_async_calls(), open);
  EXPECT_EQ(late_completions(), late);
  ASSERT_TRUE(wait_for([&] { return late_completions() > late; }));
  run_until(
      io, [] { return false; }, 20ms);
  EXPECT_EQ(p.deliveries, 1);
  // 15 writes, return_string and two completions, all ignored.
  EXPECT_GE(stale_handle_uses() - stale, 18u);
}

TEST(Hostile, NeverCompletingCallsAreFreedAtTheirTimeout) {
  auto worker = hostile();
  auto never = function(worker, "never_complete");
  std::size_t open = open_async_calls();
  boost::asio::io_context io;
  std::vector<std::unique_ptr<Pending>> calls;
  Req req("");
  for (int i = 0; i < 300; ++i) {
    calls.push_back(std::make_unique<Pending>());
    start(*calls.back(), never, req.input, io, 5ms);
  }
  EXPECT_EQ(open_async_calls(), open + 300);
  ASSERT_TRUE(run_until(io, [&] {
    for (auto& c : calls)
      if (!c->got) return false;
    return true;
  }));
  for (auto& c : calls) {
    EXPECT_EQ(c->got->status, Outcome::Status::kTimeout);
    EXPECT_TRUE(c->state.expired());
  }
  EXPECT_EQ(open_async_calls(), open);
}

// --------------------------------------------------------------------------------- stale and forged

TEST(Hostile, SynchronousResultAndCallAreDeadAfterReturn) {
  auto worker = hostile();
  settle();
  Req first("first");
  Outcome o = run_sync(function(worker, "stash"), first.input);
  EXPECT_EQ(o.result.value, "stashed");
  std::uint64_t stale = stale_handle_uses();
  Req second("second");
  o = run_sync(function(worker, "use_stash"), second.input);
  ASSERT_EQ(o.status, Outcome::Status::kOk);
  EXPECT_EQ(o.result.kind, ResultData::Kind::kString);
  EXPECT_EQ(o.result.value, "second");
  for (const HeaderOp& op : o.result.response_ops)
    EXPECT_NE(op.name, "x-stale");
  // return_string, set_header, complete through the stale result. (The stale wg_call* is the address of
  // the call now running on this thread, so it names that call: the worker's own current request.)
  EXPECT_GE(stale_handle_uses() - stale, 3u);

  // From another thread the stale call is refused too: request_id() and defer() answer nothing.
  stale = stale_handle_uses();
  std::thread([&] {
    Req third("third");
    Outcome t = run_sync(function(worker, "use_stash"), third.input);
    EXPECT_EQ(t.result.value, "third");
    EXPECT_TRUE(t.result.response_ops.empty());
  }).join();
  EXPECT_EQ(stale_handle_uses() - stale, 5u);
}

TEST(Hostile, ForgedHandlesAreRefused) {
  auto worker = hostile();
  settle();
  std::uint64_t stale = stale_handle_uses();
  Req req("");
  Outcome o = run_sync(function(worker, "forged_handles"), req.input);
  ASSERT_EQ(o.status, Outcome::Status::kOk) << o.result.value;
  EXPECT_EQ(o.result.value, "survived");
  EXPECT_EQ(stale_handle_uses() - stale, 7u * 3u + 1u);
}

// ------------------------------------------------------------------------------------------ limits

TEST(Hostile, BodiesBeyondMaxBodyBytesFailTheCall) {
  auto worker = hostile();
  auto big = function(worker, "big_body");
  for (std::string which : {"body", "json", "string"}) {
    Req ok("", "n=1000&which=" + which);
    ok.input.limits.max_body_bytes = 1000;
    Outcome o = run_sync(big, ok.input);
    EXPECT_EQ(o.status, Outcome::Status::kOk) << which << ": " << o.result.value;
    Req over("", "n=1001&which=" + which);
    over.input.limits.max_body_bytes = 1000;
    o = run_sync(big, over.input);
    EXPECT_EQ(o.status, Outcome::Status::kError) << which;
    EXPECT_NE(o.result.value.find("1001 bytes exceed gateway.max_body_bytes (1000)"), std::string::npos)
        << o.result.value;
  }
}

TEST(Hostile, LengthsNoBufferHasAreRefusedWithoutReading) {
  auto worker = hostile();
  auto bogus = function(worker, "bogus_sizes");
  for (std::string which : {"body", "header", "name", "string", "path"}) {
    Req req("", "which=" + which);
    Outcome o = run_sync(bogus, req.input);
    EXPECT_EQ(o.status, Outcome::Status::kError) << which;
    EXPECT_NE(o.result.value.find("gateway.max_"), std::string::npos) << which << ": " << o.result.value;
  }
  // The same from the worker's own thread.
  boost::asio::io_context io;
  Req req("", "which=async");
  Pending p;
  start(p, bogus, req.input, io, 2000ms);
  ASSERT_TRUE(run_until(io, [&] { return p.got.has_value(); }));
  EXPECT_EQ(p.got->status, Outcome::Status::kError);
  EXPECT_NE(p.got->result.value.find("set_body(): 18446744073709551615 bytes exceed gateway.max_body_bytes"),
            std::string::npos)
      << p.got->result.value;
}

TEST(Hostile, HeaderChangesAreBounded) {
  auto worker = hostile();
  Req req("", "n=100000");
  Outcome o = run_sync(function(worker, "many_headers"), req.input);
  EXPECT_EQ(o.status, Outcome::Status::kError);
  EXPECT_NE(o.result.value.find("more than gateway.max_headers (100)"), std::string::npos) << o.result.value;
  Req fine("", "n=100");
  EXPECT_EQ(run_sync(function(worker, "many_headers"), fine.input).status, Outcome::Status::kOk);
}

TEST(Hostile, OutOfRangeStatusesFail) {
  auto worker = hostile();
  auto bad = function(worker, "bad_status");
  for (long long status : {-1LL, 1LL, 99LL, 100LL, 101LL, 199LL, 600LL, 1000LL,
                           static_cast<long long>(INT_MAX), static_cast<long long>(INT_MIN)}) {
    for (std::string which : {"respond", "set"}) {
      Req req("", "s=" + std::to_string(status) + "&which=" + which);
      Outcome o = run_sync(bad, req.input);
      ASSERT_EQ(o.status, Outcome::Status::kOk);
      http::Response response;
      std::string error;
      EXPECT_FALSE(build_response(o.result, response, /*edit=*/false, error)) << status;
      EXPECT_NE(error.find("invalid status"), std::string::npos) << error;
    }
  }
  Req ok("", "s=204");
  Outcome o = run_sync(bad, ok.input);
  http::Response response;
  std::string error;
  EXPECT_TRUE(build_response(o.result, response, false, error)) << error;
  EXPECT_EQ(response.status, 204);
}

TEST(Hostile, HeadersWithControlCharactersFail) {
  auto worker = hostile();
  auto bad = function(worker, "bad_header");
  for (std::string which : {"value", "name", "lf", "cr", "nul", "ctl"}) {
    Req req("", "which=" + which);
    Outcome o = run_sync(bad, req.input);
    ASSERT_EQ(o.status, Outcome::Status::kOk);
    http::Response response;
    std::string error;
    EXPECT_FALSE(build_response(o.result, response, /*edit=*/false, error)) << which;
  }
  EXPECT_TRUE(valid_header_value("tab\tis fine, so is obs-text \xc3\xa9"));
  EXPECT_FALSE(valid_header_value("del\x7f"));
  EXPECT_FALSE(valid_header_value("esc\x1b[31m"));
}

// ---------------------------------------------------------------------------------------- descriptor

std::int32_t noop(const wg_call*, wg_result*) {
  return WG_OK;
}

TEST(Hostile, DescriptorNamesAreBounded) {
  std::string too_long(kMaxNameBytes + 1, 'n');
  std::string longest(kMaxNameBytes, 'n');
  wg_function fns[] = {{"ok", &noop}};
  wg_module m{WORKGATE_ABI_VERSION, sizeof(wg_module), "m", nullptr, nullptr, fns, 1};
  EXPECT_EQ(check_descriptor(&m), "");
  fns[0].name = longest.c_str();
  EXPECT_EQ(check_descriptor(&m), "");
  fns[0].name = "";
  EXPECT_NE(check_descriptor(&m).find("empty name"), std::string::npos);
  fns[0].name = too_long.c_str();
  EXPECT_NE(check_descriptor(&m).find("longer than 256 bytes"), std::string::npos);
  fns[0].name = "ok";
  m.name = too_long.c_str();
  EXPECT_NE(check_descriptor(&m).find("its name is longer"), std::string::npos);
  m.name = nullptr;
  m.function_count = kMaxFunctions + 1;
  EXPECT_NE(check_descriptor(&m).find("at most 4096"), std::string::npos);
}

// --------------------------------------------------------------------------------------------- log

TEST(LogText, EscapesControlsAndCaps) {
  EXPECT_EQ(loggable_text("a\nb\r\tc\\d\x01\x7f"), "a\\nb\\r\\tc\\\\d\\x01\\x7f");
  EXPECT_EQ(loggable_text(std::string_view("nul\0x", 5)), "nul\\x00x");
  EXPECT_EQ(loggable_text("h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80"),
            "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80");
  EXPECT_EQ(loggable_text("nel\xc2\x85 ls\xe2\x80\xa8 ps\xe2\x80\xa9 rlo\xe2\x80\xae"),
            "nel\\u0085 ls\\u2028 ps\\u2029 rlo\\u202e");
  EXPECT_EQ(loggable_text("\xff\xc0\xaf\xed\xa0\x80"), "\\xff\\xc0\\xaf\\xed\\xa0\\x80");
  EXPECT_EQ(loggable_text("cut \xe2\x82"), "cut \\xe2\\x82");
  std::string huge(5000, 'a');
  EXPECT_EQ(loggable_text(huge), std::string(4096, 'a') + "...[truncated]");
  EXPECT_EQ(loggable_text(huge, 10), std::string(10, 'a') + "...[truncated]");
  EXPECT_EQ(loggable_text(std::string(4096, 'a')), std::string(4096, 'a'));

  std::mt19937 rng(8);
  for (int i = 0; i < 2000; ++i) {
    std::string s(static_cast<std::size_t>(rng() % 64), '\0');
    for (char& c : s)
      c = static_cast<char>(rng() & 0xff);
    std::string out = loggable_text(s);
    for (unsigned char c : out)
      ASSERT_TRUE(c >= 0x20 && c != 0x7f) << "byte " << int(c) << " in " << out;
  }
}

TEST(Hostile, LogMessagesAreOneBoundedLine) {
  auto worker = hostile();
  settle();
  std::ostringstream captured;
  auto previous = spdlog::default_logger();
  auto logger =
      std::make_shared<spdlog::logger>("capture", std::make_shared<spdlog::sinks::ostream_sink_mt>(captured));
  logger->set_pattern("[%l] %v");
  spdlog::set_default_logger(logger);
  Req req("");
  Outcome o = run_sync(function(worker, "log_huge"), req.input);
  spdlog::set_default_logger(previous);
  EXPECT_EQ(o.result.value, "logged");
  std::string text = captured.str();
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1) << text.substr(0, 300);
  EXPECT_EQ(text.find('\r'), std::string::npos);
  EXPECT_EQ(text.find('\x1b'), std::string::npos);
  EXPECT_NE(text.find("worker: hostile-log-start\\n2026-01-01T00:00:00.000Z error FORGED-LF-LINE\\r\\n"),
            std::string::npos)
      << text.substr(0, 300);
  EXPECT_NE(text.find("\\x00after-nul"), std::string::npos);
  EXPECT_NE(text.find("...[truncated]\n"), std::string::npos);
  EXPECT_EQ(text.find("FORGED-TAIL-LINE-MARKER"), std::string::npos);
  EXPECT_LT(text.size(), 4096u * 2);
}

}  // namespace
}  // namespace workgate::workers
