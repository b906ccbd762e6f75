// A move-only callable with its target stored inside, never on the heap.
//
// std::function keeps a target inline only when it is trivially copyable and at most two pointers big
// (libstdc++), so a completion that captures a shared_ptr costs a malloc and a free per call. This one
// holds any nothrow-movable target up to `Capacity` bytes; a larger one does not compile.
#pragma once

#include <cstddef>
#include <new>
#include <type_traits>
#include <utility>

namespace workgate {

template <class Signature, std::size_t Capacity>
class InlineFunction;

template <class R, class... Args, std::size_t Capacity>
class InlineFunction<R(Args...), Capacity> {
 public:
  InlineFunction() noexcept = default;
  InlineFunction(std::nullptr_t) noexcept {}  // NOLINT(google-explicit-constructor): as std::function

  template <class F>
  requires(!std::is_same_v<std::decay_t<F>, InlineFunction> &&
           std::is_invocable_r_v<R, std::decay_t<F>&, Args...>)
      InlineFunction(F&& f) {  // NOLINT(google-explicit-constructor): as std::function
    using Target = std::decay_t<F>;
    static_assert(sizeof(Target) <= Capacity,
                  "the callable's captures exceed this InlineFunction's capacity");
    static_assert(alignof(Target) <= alignof(std::max_align_t), "over-aligned callable");
    static_assert(std::is_nothrow_move_constructible_v<Target>, "the callable must move without throwing");
    ::new (static_cast<void*>(storage_)) Target(std::forward<F>(f));
    ops_ = &kOps<Target>;
  }

  InlineFunction(InlineFunction&& other) noexcept { take(other); }
  InlineFunction& operator=(InlineFunction&& other) noexcept {
    if (this != &other) {
      reset();
      take(other);
    }
    return *this;
  }
  InlineFunction& operator=(std::nullptr_t) noexcept {
    reset();
    return *this;
  }
  InlineFunction(const InlineFunction&) = delete;
  InlineFunction& operator=(const InlineFunction&) = delete;
  ~InlineFunction() { reset(); }

  explicit operator bool() const noexcept { return ops_ != nullptr; }
  friend bool operator==(const InlineFunction& f, std::nullptr_t) noexcept { return f.ops_ == nullptr; }

  R operator()(Args... args) { return ops_->invoke(storage_, std::forward<Args>(args)...); }

 private:
  struct Ops {
    R (*invoke)(void* target, Args&&... args);
    void (*move_to)(void* from, void* to) noexcept;  // move-constructs at `to`, destroys `from`
    void (*destroy)(void* target) noexcept;
  };
  template <class Target>
  static constexpr Ops kOps = {
      [](void* target, Args&&... args) -> R {
        return (*std::launder(static_cast<Target*>(target)))(std::forward<Args>(args)...);
      },
      [](void* from, void* to) noexcept {
        Target* source = std::launder(static_cast<Target*>(from));
        ::new (to) Target(std::move(*source));
        source->~Target();
      },
      [](void* target) noexcept { std::launder(static_cast<Target*>(target))->~Target(); },
  };

  void take(InlineFunction& other) noexcept {
    if (other.ops_ == nullptr) return;
    other.ops_->move_to(other.storage_, storage_);
    ops_ = std::exchange(other.ops_, nullptr);
  }
  void reset() noexcept {
    if (ops_ == nullptr) return;
    std::exchange(ops_, nullptr)->destroy(storage_);
  }

  alignas(std::max_align_t) unsigned char storage_[Capacity];
  const Ops* ops_ = nullptr;
};

}  // namespace workgate
