#include "admin/admin_state.hpp"

#include <openssl/evp.h>

#include <chrono>

#include "admin/redact.hpp"

namespace workgate::admin {

std::string sha256_hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &length, EVP_sha256(), nullptr) != 1) return {};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(length * 2);
  for (unsigned int i = 0; i < length; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 0xf]);
  }
  return out;
}

AdminState::AdminState(metrics::Registry& registry, BuildInfo build)
    : registry_(registry), build_(std::move(build)) {}

std::int64_t AdminState::now_unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void AdminState::publish_config(std::string_view text, std::string source) {
  LoadedConfig loaded;
  loaded.source = std::move(source);
  loaded.sha256 = sha256_hex(text);
  loaded.redacted_json = redact_config(text).value_or("null");
  loaded.loaded_unix_ms = now_unix_ms();
  std::lock_guard lock(mutex_);
  loaded.generation = ++publications_;
  config_ = std::move(loaded);
}

void AdminState::record_reload(bool ok, std::string message) {
  (ok ? reloads_ok_ : reloads_failed_).fetch_add(1, std::memory_order_relaxed);
  std::lock_guard lock(mutex_);
  reloads_.push_back({now_unix_ms(), ok, std::move(message)});
  if (reloads_.size() > kReloadHistory) reloads_.pop_front();
}

std::shared_ptr<const pipeline::Snapshot> AdminState::snapshot() const {
  const pipeline::SnapshotSource* source = source_.load(std::memory_order_acquire);
  if (source == nullptr || source->generation() == 0) return nullptr;
  return source->current();
}

std::optional<LoadedConfig> AdminState::config() const {
  std::lock_guard lock(mutex_);
  return config_;
}

void AdminState::add_listener(ListenerInfo listener) {
  std::lock_guard lock(mutex_);
  listeners_.push_back(std::move(listener));
}

std::vector<ListenerInfo> AdminState::listeners() const {
  std::lock_guard lock(mutex_);
  return listeners_;
}

std::deque<ReloadRecord> AdminState::reloads() const {
  std::lock_guard lock(mutex_);
  return reloads_;
}

}  // namespace workgate::admin
