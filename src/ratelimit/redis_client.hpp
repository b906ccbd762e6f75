// The `redis` store's client: one pipelined hiredis connection per event-loop thread, driven by that
// thread's io_context through a small adapter (hiredis' ev hooks -> async_wait on the socket), so nothing
// ever blocks a loop.
//
// A decision is one EVALSHA of the GCRA script (EVAL when Redis answers NOSCRIPT), which reads Redis'
// own TIME: the instances' clocks never matter. Each decision waits at most the endpoint's timeout: one
// timer per connection, armed for the oldest unanswered decision (replies come back in order, and every
// decision has the same timeout, so deadlines are in order too). A connection whose oldest reply is far
// overdue is dropped and made again, with backoff; while it is not ready, decisions are not sent at all
// (the caller applies its policy's fail_open at once).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "http/message.hpp"
#include "ratelimit/gcra.hpp"

struct redisAsyncContext;
struct redisReply;

namespace workgate::ratelimit {

// Where the Redis store is (config::RedisSettings with the host name resolved to an address).
struct RedisEndpoint {
  std::string address;  // IP literal, for TCP
  std::uint16_t port = 6379;
  std::string unix_path;
  std::int64_t database = 0;
  std::string password;
  std::chrono::milliseconds timeout{20};
  std::string description;  // for logs: "127.0.0.1:6379/0" or "unix:/path" (never the password)

  // What distinguishes two endpoints (a changed password is a new connection): set once, by the
  // builder, from make_identity().
  std::string identity;
  std::string make_identity() const;
};

// The script's answer: whether the request passed and the key's TAT relative to Redis' now.
struct GcraReply {
  bool admitted = false;
  std::int64_t ahead_us = 0;
};

// A reply of the GCRA script: an array of two integers, [0 or 1, ahead_us]; nullopt for anything else.
std::optional<GcraReply> parse_gcra_reply(const redisReply* reply);

// The Lua script and its SHA-1 (for EVALSHA).
const std::string& gcra_script();
const std::string& gcra_script_sha();

enum class RedisOutcome { kReply, kTimeout, kUnavailable, kBadReply };

class RedisConnection : public std::enable_shared_from_this<RedisConnection> {
 public:
  using Clock = std::chrono::steady_clock;
  using Handler = std::function<void(RedisOutcome, const GcraReply&)>;

  struct Options {
    std::size_t max_in_flight = 4096;
    std::chrono::milliseconds min_backoff{50};
    std::chrono::milliseconds max_backoff{2000};
  };

  RedisConnection(boost::asio::io_context& io, RedisEndpoint endpoint, Options options);
  RedisConnection(boost::asio::io_context& io, RedisEndpoint endpoint)
      : RedisConnection(io, std::move(endpoint), Options()) {}
  ~RedisConnection();
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;

  // Connected, authenticated, database selected and script loaded. Starts connecting when it is not.
  bool ready();

  // Sends one decision; `handler` runs later on this thread, exactly once unless the returned handle is
  // cancelled first: with the reply, or kTimeout at the deadline, or kUnavailable when the connection
  // fails. Null (and no call) while the connection backs off after a failure, or when too many decisions
  // are in flight.
  std::shared_ptr<http::Cancellable> decide(const std::string& key, const GcraParams& params,
                                            Handler handler);

  // Keys Redis said are over their limit, answered here until their retry time so that a hot abusive key
  // does not cost a round trip per request. Bounded: when full, nothing more is remembered.
  struct OverLimit {
    Clock::time_point retry_at;
    Clock::time_point reset_at;
  };
  const OverLimit* over_limit(const std::string& key, Clock::time_point now);
  void remember_over_limit(const std::string& key, OverLimit entry, Clock::time_point now);

  const RedisEndpoint& endpoint() const { return endpoint_; }
  // hiredis' reader calls this (through the reply object functions) for each reply it starts to build.
  static bool accept_reply(const void* read_task);
  std::size_t in_flight() const { return in_flight_.size(); }

 private:
  struct Pending;
  enum class State { kIdle, kConnecting, kReady, kBackoff };

  void connect();
  void drop(const char* why);  // frees the context (failing what is in flight) and backs off
  void schedule_reconnect();
  void arm_read();
  void arm_write();
  void arm_timer();
  void on_timer();
  bool send(const std::shared_ptr<Pending>& pending, bool with_source);
  void fail_all(RedisOutcome outcome);

  static void on_connect(const redisAsyncContext* context, int status);
  static void on_disconnect(const redisAsyncContext* context, int status);
  static void on_setup_reply(redisAsyncContext* context, void* reply, void* privdata);
  static void on_decision_reply(redisAsyncContext* context, void* reply, void* privdata);
  static void ev_add_read(void* self);
  static void ev_del_read(void* self);
  static void ev_add_write(void* self);
  static void ev_del_write(void* self);
  static void ev_cleanup(void* self);

  boost::asio::io_context& io_;
  RedisEndpoint endpoint_;
  Options options_;
  redisAsyncContext* context_ = nullptr;
  boost::asio::posix::stream_descriptor socket_;  // hiredis' socket: waited on, never closed by Asio
  boost::asio::steady_timer deadline_timer_;      // the oldest unanswered decision's deadline
  boost::asio::steady_timer reconnect_timer_;     // backoff
  State state_ = State::kIdle;
  std::uint64_t generation_ = 0;         // per connection attempt: timers of an earlier one do nothing
  std::uint64_t socket_generation_ = 0;  // per freed context: socket waits of an old one do nothing
  bool want_read_ = false, want_write_ = false;
  bool read_armed_ = false, write_armed_ = false;
  bool write_blocked_ = false;  // the last write left data behind: wait for writability
  bool deadline_armed_ = false;
  Clock::time_point deadline_at_;  // when the armed deadline timer fires
  bool closing_ = false;
  std::chrono::milliseconds backoff_{0};
  std::deque<std::shared_ptr<Pending>> in_flight_;  // in the order Redis answers
  std::string command_;                             // the request being written (capacity reused)
  std::size_t awaited_replies_ = 0;                 // commands sent (set-up too) not answered yet
  bool unsolicited_reply_ = false;
  std::unordered_map<std::string, OverLimit> over_limit_;
  static constexpr std::size_t kMaxOverLimitKeys = 16384;
};

}  // namespace workgate::ratelimit
