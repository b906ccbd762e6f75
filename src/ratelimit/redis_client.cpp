#include "ratelimit/redis_client.hpp"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <openssl/sha.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <charconv>
#include <cstring>

#include "observability/log.hpp"

namespace workgate::ratelimit {
namespace {

using observability::log_warn;

// KEYS[1]: the key; ARGV[1]: interval (us), ARGV[2]: tolerance (us). Returns {admitted, TAT - now (us)}.
// TIME is Redis' clock, so gateways with different clocks agree; numbers are formatted with %.0f because
// Lua's default formatting would round microsecond timestamps (16 digits).
constexpr char kScript[] = R"lua(local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
if tat - now > tolerance then return {0, tat - now} end
tat = tat + interval
redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX', string.format('%.0f', math.ceil((tat - now) / 1000) + 1000))
return {1, tat - now}
)lua";

std::string sha1_hex(std::string_view text) {
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char b : digest) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 15]);
  }
  return out;
}

std::string number(std::int64_t n) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof(buf), n);
  return std::string(buf, r.ptr);
}

bool is_error_reply(const redisReply* reply, std::string_view prefix) {
  return reply != nullptr && reply->type == REDIS_REPLY_ERROR &&
         std::string_view(reply->str, reply->len).starts_with(prefix);
}

// An error text from Redis, shortened for a log line (no secrets: AUTH is never echoed by Redis).
std::string error_text(const redisReply* reply) {
  if (reply == nullptr) return "no reply";
  if (reply->type != REDIS_REPLY_ERROR && reply->type != REDIS_REPLY_STATUS) return "unexpected reply type";
  return std::string(reply->str, std::min<std::size_t>(reply->len, 200));
}

redisReplyObjectFunctions* default_reply_functions = nullptr;

}  // namespace

// A top-level reply (the start of one) is only accepted while a command waits for it.
bool RedisConnection::accept_reply(const void* read_task) {
  const auto* task = static_cast<const redisReadTask*>(read_task);
  if (task->parent != nullptr) return true;
  auto* self = static_cast<RedisConnection*>(task->privdata);
  if (self->awaited_replies_ == 0) {
    self->unsolicited_reply_ = true;
    return false;  // hiredis then reports a read error and disconnects
  }
  --self->awaited_replies_;
  return true;
}

namespace {

void* create_string(const redisReadTask* task, char* text, size_t length) {
  return RedisConnection::accept_reply(task) ? default_reply_functions->createString(task, text, length)
                                             : nullptr;
}
void* create_array(const redisReadTask* task, int elements) {
  return RedisConnection::accept_reply(task) ? default_reply_functions->createArray(task, elements) : nullptr;
}
void* create_integer(const redisReadTask* task, long long value) {
  return RedisConnection::accept_reply(task) ? default_reply_functions->createInteger(task, value) : nullptr;
}
void* create_nil(const redisReadTask* task) {
  return RedisConnection::accept_reply(task) ? default_reply_functions->createNil(task) : nullptr;
}
void free_object(void* reply) {
  default_reply_functions->freeObject(reply);
}

redisReplyObjectFunctions kCountingFunctions = {&create_string, &create_array, &create_integer, &create_nil,
                                                &free_object};

}  // namespace

std::string RedisEndpoint::make_identity() const {
  return (unix_path.empty() ? address + ":" + number(port) : "unix:" + unix_path) + "/" + number(database) +
         "|" + sha1_hex(password) + "|" + number(timeout.count());
}

const std::string& gcra_script() {
  static const std::string script(kScript);
  return script;
}

const std::string& gcra_script_sha() {
  static const std::string sha = sha1_hex(kScript);
  return sha;
}

std::optional<GcraReply> parse_gcra_reply(const redisReply* reply) {
  if (reply == nullptr || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2) return std::nullopt;
  const redisReply* admitted = reply->element[0];
  const redisReply* ahead = reply->element[1];
  if (admitted == nullptr || ahead == nullptr || admitted->type != REDIS_REPLY_INTEGER ||
      ahead->type != REDIS_REPLY_INTEGER || (admitted->integer != 0 && admitted->integer != 1)) {
    return std::nullopt;
  }
  return GcraReply{admitted->integer == 1, static_cast<std::int64_t>(ahead->integer)};
}

// One decision on the wire. Owned by in_flight_ until Redis answers (or the connection fails); the caller
// holds it weakly as its Cancellable.
struct RedisConnection::Pending final : http::Cancellable {
  Handler handler;  // cleared once called or cancelled
  Clock::time_point deadline;
  std::string key;
  std::int64_t interval_us = 0, tolerance_us = 0;
  bool retried_with_source = false;

  void cancel() override { handler = nullptr; }
  void finish(RedisOutcome outcome, const GcraReply& reply = {}) {
    if (!handler) return;
    Handler h = std::move(handler);
    handler = nullptr;
    h(outcome, reply);
  }
};

RedisConnection::RedisConnection(boost::asio::io_context& io, RedisEndpoint endpoint, Options options)
    : io_(io),
      endpoint_(std::move(endpoint)),
      options_(options),
      socket_(io),
      deadline_timer_(io),
      reconnect_timer_(io) {}

RedisConnection::~RedisConnection() {
  closing_ = true;
  for (auto& pending : in_flight_)
    pending->handler = nullptr;  // nothing resumes during teardown
  if (context_ != nullptr) {
    redisAsyncContext* context = context_;
    context_ = nullptr;
    redisAsyncFree(context);  // calls the reply callbacks with no reply, then ev_cleanup
  }
  if (socket_.is_open()) socket_.release();
}

bool RedisConnection::ready() {
  if (state_ == State::kIdle) connect();
  return state_ == State::kReady;
}

void RedisConnection::connect() {
  ++generation_;
  redisAsyncContext* context = endpoint_.unix_path.empty()
                                   ? redisAsyncConnect(endpoint_.address.c_str(), endpoint_.port)
                                   : redisAsyncConnectUnix(endpoint_.unix_path.c_str());
  if (context == nullptr) {
    log_warn("redis {}: cannot create a connection", endpoint_.description);
    schedule_reconnect();
    return;
  }
  if (context->err) {
    log_warn("redis {}: cannot connect: {}", endpoint_.description, context->errstr);
    redisAsyncFree(context);
    schedule_reconnect();
    return;
  }
  context->data = this;
  context->ev.data = this;
  context->ev.addRead = &ev_add_read;
  context->ev.delRead = &ev_del_read;
  context->ev.addWrite = &ev_add_write;
  context->ev.delWrite = &ev_del_write;
  context->ev.cleanup = &ev_cleanup;
  boost::system::error_code ec;
  socket_.assign(context->c.fd, ec);
  if (ec) {
    log_warn("redis {}: cannot watch the socket: {}", endpoint_.description, ec.message());
    context->ev.cleanup = nullptr;
    redisAsyncFree(context);
    schedule_reconnect();
    return;
  }
  // hiredis 0.14 aborts the process (an assert in redisProcessCallbacks) on a reply no command asked for.
  // A broken or hostile server must not crash the gateway: the reader counts top-level replies against
  // the commands sent, and an extra one fails the read (so the connection is dropped and made again).
  // hiredis' own functions, saved once (every context has the same); the guarded static initialization
  // orders the write before any thread's use of them.
  [[maybe_unused]] static const bool saved = (default_reply_functions = context->c.reader->fn, true);
  context->c.reader->fn = &kCountingFunctions;
  context->c.reader->privdata = this;
  awaited_replies_ = 0;
  unsolicited_reply_ = false;
  context_ = context;
  state_ = State::kConnecting;
  redisAsyncSetConnectCallback(context, &on_connect);
  redisAsyncSetDisconnectCallback(context, &on_disconnect);

  // Set-up commands, pipelined behind the connect: AUTH, SELECT, SCRIPT LOAD. The connection is ready when
  // the last one answers; any error reply drops it (and so retries with backoff).
  auto command = [&](std::initializer_list<std::string_view> args, void* tag) {
    const char* argv[4];
    std::size_t lengths[4];
    int argc = 0;
    for (std::string_view a : args) {
      argv[argc] = a.data();
      lengths[argc++] = a.size();
    }
    if (redisAsyncCommandArgv(context, &on_setup_reply, tag, argc, argv, lengths) == REDIS_OK)
      ++awaited_replies_;
  };
  static char kAuth, kSelect, kLoad;
  if (!endpoint_.password.empty()) command({"AUTH", endpoint_.password}, &kAuth);
  std::string database = number(endpoint_.database);
  if (endpoint_.database != 0) command({"SELECT", database}, &kSelect);
  command({"SCRIPT", "LOAD", gcra_script()}, &kLoad);
  // The connect completes on writability (hiredis' handleWrite), which the queued commands ask for.
  ev_add_write(this);
  // The whole set-up has the same bound as a stalled connection (see on_timer): no answer, no connection.
  reconnect_timer_.expires_after(
      std::max<std::chrono::milliseconds>(endpoint_.timeout * 10, std::chrono::milliseconds(500)));
  reconnect_timer_.async_wait(
      [weak = weak_from_this(), generation = generation_](const boost::system::error_code& e) {
        auto self = weak.lock();
        if (e || !self || self->generation_ != generation || self->state_ != State::kConnecting) return;
        self->drop("no answer to the connection set-up in time");
      });
}

void RedisConnection::on_connect(const redisAsyncContext* context, int status) {
  auto* self = static_cast<RedisConnection*>(context->data);
  if (self == nullptr || self->closing_ || status == REDIS_OK) return;
  // hiredis frees the context after this callback (ev_cleanup runs), then we back off.
  log_warn("redis {}: cannot connect: {}", self->endpoint_.description, context->errstr);
  self->context_ = nullptr;
  self->fail_all(RedisOutcome::kUnavailable);
  self->schedule_reconnect();
}

void RedisConnection::on_disconnect(const redisAsyncContext* context, int status) {
  auto* self = static_cast<RedisConnection*>(context->data);
  if (self == nullptr || self->closing_) return;
  if (status != REDIS_OK)
    log_warn("redis {}: connection lost: {}", self->endpoint_.description, context->errstr);
  self->context_ = nullptr;
  self->fail_all(RedisOutcome::kUnavailable);
  self->schedule_reconnect();
}

void RedisConnection::on_setup_reply(redisAsyncContext* context, void* reply_ptr, void* tag) {
  auto* self = static_cast<RedisConnection*>(context->data);
  if (self == nullptr || self->closing_ || reply_ptr == nullptr) return;
  auto* reply = static_cast<redisReply*>(reply_ptr);
  if (reply->type == REDIS_REPLY_ERROR) {
    log_warn("redis {}: set-up command failed: {}", self->endpoint_.description, error_text(reply));
    // Not from inside hiredis' callback: freeing the context here would free it under its own feet.
    boost::asio::post(self->io_, [weak = self->weak_from_this(), generation = self->generation_] {
      auto s = weak.lock();
      if (s && s->generation_ == generation && s->context_ != nullptr) s->drop("set-up failed");
    });
    return;
  }
  // SCRIPT LOAD is the last set-up command: its answer (the SHA-1) makes the connection ready.
  static_cast<void>(tag);
  if (reply->type == REDIS_REPLY_STRING && std::string_view(reply->str, reply->len) == gcra_script_sha()) {
    self->state_ = State::kReady;
    self->backoff_ = std::chrono::milliseconds(0);
    self->reconnect_timer_.cancel();
  }
}

void RedisConnection::drop(const char* why) {
  if (context_ == nullptr) return;
  log_warn("redis {}: dropping the connection: {}", endpoint_.description, why);
  redisAsyncContext* context = context_;
  context_ = nullptr;
  context->data = nullptr;  // the callbacks redisAsyncFree makes find no connection
  fail_all(RedisOutcome::kUnavailable);
  redisAsyncFree(context);
  schedule_reconnect();
}

void RedisConnection::schedule_reconnect() {
  if (closing_) return;
  state_ = State::kBackoff;
  ++generation_;
  backoff_ = backoff_.count() == 0 ? options_.min_backoff : std::min(backoff_ * 2, options_.max_backoff);
  reconnect_timer_.expires_after(backoff_);
  reconnect_timer_.async_wait(
      [weak = weak_from_this(), generation = generation_](const boost::system::error_code& ec) {
        auto self = weak.lock();
        if (ec || !self || self->generation_ != generation) return;
        self->connect();
      });
}

void RedisConnection::fail_all(RedisOutcome outcome) {
  auto failing = std::move(in_flight_);
  in_flight_.clear();
  for (auto& pending : failing)
    pending->finish(outcome);
}

std::shared_ptr<http::Cancellable> RedisConnection::decide(const std::string& key, const GcraParams& params,
                                                           Handler handler) {
  // While the first connection is being made the decision is queued behind the set-up commands (Redis
  // runs them in order); during a backoff nothing is sent.
  ready();
  if ((state_ != State::kReady && state_ != State::kConnecting) || context_ == nullptr ||
      in_flight_.size() >= options_.max_in_flight) {
    return nullptr;
  }
  auto pending = std::make_shared<Pending>();
  pending->handler = std::move(handler);
  pending->deadline = Clock::now() + endpoint_.timeout;
  pending->key = key;
  pending->interval_us = params.interval_us;
  pending->tolerance_us = params.tolerance_us;
  if (!send(pending, false)) return nullptr;
  arm_timer();
  return pending;
}

namespace {

void append_bulk(std::string& out, std::string_view arg) {
  char digits[24];
  auto r = std::to_chars(digits, digits + sizeof(digits), arg.size());
  out.push_back('$');
  out.append(digits, r.ptr).append("\r\n").append(arg).append("\r\n");
}

void append_bulk(std::string& out, std::int64_t n) {
  char digits[24];
  auto r = std::to_chars(digits, digits + sizeof(digits), n);
  append_bulk(out, std::string_view(digits, static_cast<std::size_t>(r.ptr - digits)));
}

}  // namespace

// The request is written in RESP here rather than through redisAsyncCommandArgv: its first three arguments
// (EVALSHA, the SHA-1, the key count) are the same for every decision, and hiredis' general formatter
// (an sds printf per argument) cost more instructions than the rest of the request's handling.
bool RedisConnection::send(const std::shared_ptr<Pending>& pending, bool with_source) {
  static const std::string evalsha_prefix = [] {
    std::string prefix = "*6\r\n";
    append_bulk(prefix, "EVALSHA");
    append_bulk(prefix, gcra_script_sha());
    append_bulk(prefix, "1");
    return prefix;
  }();
  static const std::string eval_prefix = [] {
    std::string prefix = "*6\r\n";
    append_bulk(prefix, "EVAL");
    append_bulk(prefix, gcra_script());
    append_bulk(prefix, "1");
    return prefix;
  }();
  command_.assign(with_source ? eval_prefix : evalsha_prefix);
  append_bulk(command_, pending->key);
  append_bulk(command_, pending->interval_us);
  append_bulk(command_, pending->tolerance_us);
  in_flight_.push_back(pending);
  if (context_ == nullptr || redisAsyncFormattedCommand(context_, &on_decision_reply, this, command_.data(),
                                                        command_.size()) != REDIS_OK) {
    in_flight_.pop_back();
    return false;
  }
  ++awaited_replies_;
  return true;
}

void RedisConnection::on_decision_reply(redisAsyncContext* context, void* reply_ptr, void* privdata) {
  auto* self = static_cast<RedisConnection*>(privdata);
  if (self->closing_ || context->data == nullptr || self->in_flight_.empty()) return;
  std::shared_ptr<Pending> pending = std::move(self->in_flight_.front());
  self->in_flight_.pop_front();
  auto* reply = static_cast<redisReply*>(reply_ptr);
  if (reply == nullptr) {
    pending->finish(RedisOutcome::kUnavailable);
    return;
  }
  if (is_error_reply(reply, "NOSCRIPT") && !pending->retried_with_source) {
    // The script cache was flushed: send the source once (Redis caches it again).
    pending->retried_with_source = true;
    if (!self->send(pending, true)) pending->finish(RedisOutcome::kUnavailable);
    return;
  }
  auto parsed = parse_gcra_reply(reply);
  if (!parsed) {
    log_warn("redis {}: unexpected answer to the rate-limit script: {}", self->endpoint_.description,
             error_text(reply));
    pending->finish(RedisOutcome::kBadReply);
    return;
  }
  pending->finish(RedisOutcome::kReply, *parsed);
}

// Deadlines: entries are in deadline order, so the first one with a handler is the next to expire. The
// timer is armed once for it and re-armed from its handler, not per decision.
void RedisConnection::arm_timer() {
  // Armed for an earlier deadline already (decisions are in deadline order): nothing to do. Armed only
  // for the stall check of older, answered decisions: this decision's deadline comes first.
  if (deadline_armed_ && deadline_at_ <= in_flight_.back()->deadline) return;
  Clock::time_point next{};
  bool found = false;
  for (const auto& pending : in_flight_) {
    if (pending->handler) {
      next = pending->deadline;
      found = true;
      break;
    }
  }
  if (!found && in_flight_.empty()) return;
  if (!found) next = in_flight_.front()->deadline;  // only answered ones left: check for a stall then
  deadline_armed_ = true;
  deadline_at_ = next;
  deadline_timer_.expires_at(next);
  deadline_timer_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
    auto self = weak.lock();
    if (!self || ec) return;
    self->deadline_armed_ = false;
    self->on_timer();
  });
}

void RedisConnection::on_timer() {
  const Clock::time_point now = Clock::now();
  // A Redis that stopped answering: the oldest decision is this far past its deadline.
  const auto stall_limit = std::max<Clock::duration>(endpoint_.timeout * 10, std::chrono::milliseconds(250));
  if (!in_flight_.empty() && now - in_flight_.front()->deadline > stall_limit) {
    drop("no reply in time");
    return;
  }
  // Copy: a handler may start another decision (and so change in_flight_).
  std::vector<std::shared_ptr<Pending>> expired;
  for (const auto& pending : in_flight_) {
    if (pending->deadline > now) break;
    if (pending->handler) expired.push_back(pending);
  }
  for (auto& pending : expired)
    pending->finish(RedisOutcome::kTimeout);
  if (in_flight_.empty()) return;
  // Next: the first unanswered deadline, or the stall check of the oldest entry.
  Clock::time_point next = in_flight_.front()->deadline + stall_limit + std::chrono::milliseconds(1);
  for (const auto& pending : in_flight_) {
    if (pending->handler) {
      next = std::min(next, pending->deadline);
      break;
    }
  }
  deadline_armed_ = true;
  deadline_at_ = next;
  deadline_timer_.expires_at(next);
  deadline_timer_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
    auto self = weak.lock();
    if (!self || ec) return;
    self->deadline_armed_ = false;
    self->on_timer();
  });
}

const RedisConnection::OverLimit* RedisConnection::over_limit(const std::string& key, Clock::time_point now) {
  if (over_limit_.empty()) return nullptr;
  auto it = over_limit_.find(key);
  if (it == over_limit_.end()) return nullptr;
  if (it->second.retry_at <= now) {
    over_limit_.erase(it);
    return nullptr;
  }
  return &it->second;
}

void RedisConnection::remember_over_limit(const std::string& key, OverLimit entry, Clock::time_point now) {
  if (over_limit_.size() >= kMaxOverLimitKeys) {
    std::erase_if(over_limit_, [now](const auto& kv) { return kv.second.retry_at <= now; });
    if (over_limit_.size() >= kMaxOverLimitKeys) return;
  }
  over_limit_[key] = entry;
}

// ------------------------------------------------------------------------------------ the ev adapter

void RedisConnection::arm_read() {
  if (read_armed_ || !want_read_ || context_ == nullptr) return;
  read_armed_ = true;
  socket_.async_wait(
      boost::asio::posix::stream_descriptor::wait_read,
      [weak = weak_from_this(), generation = socket_generation_](const boost::system::error_code& ec) {
        auto self = weak.lock();
        if (!self || self->socket_generation_ != generation) return;
        self->read_armed_ = false;
        if (ec || self->context_ == nullptr || !self->want_read_) return;
        redisAsyncHandleRead(self->context_);  // may free the context (on_disconnect)
        if (self->socket_generation_ == generation) self->arm_read();
      });
}

// Commands are written from a posted handler rather than after waiting for writability: the socket of a
// connected context is nearly always writable, so this saves a trip through epoll per command, and every
// command issued in the same turn of the loop (one batch of requests) goes out in one write. Only while
// connecting, or after a write that did not complete, is writability waited for.
void RedisConnection::arm_write() {
  if (write_armed_ || !want_write_ || context_ == nullptr) return;
  write_armed_ = true;
  auto on_writable = [weak = weak_from_this(),
                      generation = socket_generation_](const boost::system::error_code& ec) {
    auto self = weak.lock();
    if (!self || self->socket_generation_ != generation) return;
    self->write_armed_ = false;
    if (ec || self->context_ == nullptr || !self->want_write_) return;
    self->write_blocked_ = false;
    redisAsyncHandleWrite(self->context_);
    if (self->socket_generation_ != generation) return;
    // Still wanted after a write: the socket buffer is full (or the connect is still in progress).
    self->write_blocked_ = self->want_write_;
    self->arm_write();
  };
  const bool connected = (context_->c.flags & REDIS_CONNECTED) != 0;
  if (connected && !write_blocked_) {
    boost::asio::post(io_, [on_writable] { on_writable({}); });
  } else {
    socket_.async_wait(boost::asio::posix::stream_descriptor::wait_write, std::move(on_writable));
  }
}

void RedisConnection::ev_add_read(void* p) {
  auto* self = static_cast<RedisConnection*>(p);
  self->want_read_ = true;
  // Not armed inline while connect() is still filling in the context: arm_read checks context_.
  self->arm_read();
}

void RedisConnection::ev_del_read(void* p) {
  static_cast<RedisConnection*>(p)->want_read_ = false;
}

void RedisConnection::ev_add_write(void* p) {
  auto* self = static_cast<RedisConnection*>(p);
  self->want_write_ = true;
  self->arm_write();
}

void RedisConnection::ev_del_write(void* p) {
  static_cast<RedisConnection*>(p)->want_write_ = false;
}

// The context is being freed: stop waiting on its socket and give the descriptor back without closing it
// (hiredis closes it).
void RedisConnection::ev_cleanup(void* p) {
  auto* self = static_cast<RedisConnection*>(p);
  self->want_read_ = self->want_write_ = false;
  self->read_armed_ = self->write_armed_ = false;
  ++self->socket_generation_;
  self->write_blocked_ = false;
  if (self->socket_.is_open()) self->socket_.release();
}

}  // namespace workgate::ratelimit
