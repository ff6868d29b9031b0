// Result<T, E>: a value or an expected error, never both. Expected failures are values,
// exceptions are for start-up and main only (STYLE habit 2). Not thread-safe; a plain value type.
#pragma once

#include <utility>
#include <variant>

#include "schemas/check.h"

namespace ul {

template <class E>
struct Unexpected {
    E error;
};

template <class E>
Unexpected<E> unexpected(E error) {
    return Unexpected<E>{std::move(error)};
}

template <class T, class E>
class [[nodiscard]] Result {
  public:
    Result(T value)
        : state_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
    Result(Unexpected<E> error)                                // NOLINT: implicit by design
        : state_(std::in_place_index<1>, std::move(error.error)) {}

    bool ok() const { return state_.index() == 0; }
    explicit operator bool() const { return ok(); }

    T& value() & {
        UL_CHECK(ok(), "Result::value() on an error");
        return std::get<0>(state_);
    }
    const T& value() const& {
        UL_CHECK(ok(), "Result::value() on an error");
        return std::get<0>(state_);
    }
    T&& value() && {
        UL_CHECK(ok(), "Result::value() on an error");
        return std::get<0>(std::move(state_));
    }
    const E& error() const {
        UL_CHECK(!ok(), "Result::error() on a value");
        return std::get<1>(state_);
    }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }

  private:
    std::variant<T, E> state_;
};

}  // namespace ul
