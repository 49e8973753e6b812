// SPDX-License-Identifier: Apache-2.0
// The one error type of Mumba's SDK and of the platform itself.
//
// A Status is either OK or a code plus a one-line message meant for a person
// ("app 'helo' is not installed"). Codes are gRPC's canonical codes, so a Status
// crosses a gRPC boundary unchanged. Expected<T> holds a T or a non-OK Status.
// Both are cheap to move, thread-compatible (not thread-safe) values.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace mumba {

// Numerically identical to grpc::StatusCode.
enum class Code : int {
  kOk = 0,
  kCancelled = 1,
  kUnknown = 2,
  kInvalidArgument = 3,
  kDeadlineExceeded = 4,
  kNotFound = 5,
  kAlreadyExists = 6,
  kPermissionDenied = 7,
  kResourceExhausted = 8,
  kFailedPrecondition = 9,
  kAborted = 10,
  kOutOfRange = 11,
  kUnimplemented = 12,
  kInternal = 13,
  kUnavailable = 14,
  kDataLoss = 15,
  kUnauthenticated = 16,
};

class [[nodiscard]] Status {
 public:
  // OK.
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return {}; }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }

  // Returns a copy whose message is "<context>: <message>"; OK stays OK.
  Status WithContext(const std::string& context) const {
    if (ok()) return *this;
    return Status(code_, context + ": " + message_);
  }

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

inline Status InvalidArgument(std::string m) { return {Code::kInvalidArgument, std::move(m)}; }
inline Status NotFound(std::string m) { return {Code::kNotFound, std::move(m)}; }
inline Status AlreadyExists(std::string m) { return {Code::kAlreadyExists, std::move(m)}; }
inline Status FailedPrecondition(std::string m) { return {Code::kFailedPrecondition, std::move(m)}; }
inline Status Unavailable(std::string m) { return {Code::kUnavailable, std::move(m)}; }
inline Status Internal(std::string m) { return {Code::kInternal, std::move(m)}; }
inline Status DeadlineExceeded(std::string m) { return {Code::kDeadlineExceeded, std::move(m)}; }
inline Status PermissionDenied(std::string m) { return {Code::kPermissionDenied, std::move(m)}; }
inline Status Unimplemented(std::string m) { return {Code::kUnimplemented, std::move(m)}; }
inline Status ResourceExhausted(std::string m) { return {Code::kResourceExhausted, std::move(m)}; }
inline Status DataLoss(std::string m) { return {Code::kDataLoss, std::move(m)}; }
inline Status Aborted(std::string m) { return {Code::kAborted, std::move(m)}; }

// A T, or the Status that explains why there is none. Never holds an OK Status.
template <typename T>
class [[nodiscard]] Expected {
 public:
  Expected(T value) : v_(std::move(value)) {}
  // Precondition: `status` is not OK. An OK status says there is a value, yet
  // gives none: that is a bug in the caller, so debug builds stop here (assert);
  // release builds hold INTERNAL "Expected built from an OK status" instead.
  Expected(Status status) : v_(std::move(status)) {
    assert(!std::get<Status>(v_).ok() && "Expected built from an OK status");
    if (std::get<Status>(v_).ok()) v_ = Status(Code::kInternal, "Expected built from an OK status");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return ok(); }

  // Precondition for value()/operator*: ok().
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  // OK when a value is held.
  Status status() const { return ok() ? Status() : std::get<Status>(v_); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace mumba

// Returns early from the enclosing function when `expr` (a Status) is not OK.
#define MUMBA_TRY(expr)                            \
  do {                                             \
    ::mumba::Status _mumba_st = (expr);            \
    if (!_mumba_st.ok()) return _mumba_st;         \
  } while (0)

#define MUMBA_CONCAT_INNER(a, b) a##b
#define MUMBA_CONCAT(a, b) MUMBA_CONCAT_INNER(a, b)

// `MUMBA_ASSIGN_OR_RETURN(auto x, F());` declares x from an Expected, or returns
// its Status from the enclosing function.
#define MUMBA_ASSIGN_OR_RETURN(lhs, expr) \
  MUMBA_ASSIGN_OR_RETURN_IMPL(MUMBA_CONCAT(_mumba_ex_, __LINE__), lhs, expr)
#define MUMBA_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                \
  if (!tmp.ok()) return tmp.status();               \
  lhs = std::move(tmp).value()
