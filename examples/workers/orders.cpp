// Example service reached through service_binding: an in-memory order book.
//
//   GET  /orders       -> list     {"statusCode":200,"message":"2 orders","orders":[...]}
//   GET  /orders/{id}  -> get      the order, or {"error":"Order not found","statusCode":404}
//   POST /orders       -> create   body {"item":"...","quantity":N} -> 201
//
// The functions return JSON objects; the gateway wraps them into the envelope
// {"status":"success","message":...,"data":{...}} (or "error") with `statusCode` as the HTTP status.
// Functions of one instance run concurrently on every event-loop thread, hence the mutex.
#include <boost/json.hpp>
#include <mutex>
#include <string>
#include <vector>
#include <workgate/worker.hpp>

namespace {

using workgate::Call;
using workgate::Result;
namespace json = boost::json;

class Orders {
 public:
  explicit Orders(const workgate::Init& init) {
    json::value config = json::parse(init.config_json());
    if (const auto* obj = config.if_object()) {
      if (const auto* c = obj->if_contains("currency"); c && c->is_string())
        currency_ = std::string(c->get_string());
    }
    orders_.push_back(order("1", "coffee beans", 2, 1800));
    orders_.push_back(order("2", "grinder", 1, 9900));
  }

  Result list(Call&) {
    std::lock_guard lock(mutex_);
    json::object out{{"statusCode", 200}, {"message", std::to_string(orders_.size()) + " orders"}};
    json::array items;
    for (const auto& o : orders_)
      items.push_back(o);
    out["orders"] = std::move(items);
    return Result::json(json::serialize(out));
  }

  Result get(Call& call) {
    auto id = call.context().param("id").value_or("");
    std::lock_guard lock(mutex_);
    for (const auto& o : orders_) {
      if (o.at("id").as_string() == id) return Result::json(json::serialize(json::object{{"order", o}}));
    }
    return Result::json(R"({"error":"Order not found","statusCode":404})");
  }

  Result create(Call& call) {
    boost::system::error_code ec;
    json::value body = json::parse(call.request().body(), ec);
    const json::object* in = ec ? nullptr : body.if_object();
    const json::value* item = in ? in->if_contains("item") : nullptr;
    const json::value* quantity = in ? in->if_contains("quantity") : nullptr;
    if (!item || !item->is_string() || !quantity || !quantity->is_int64() || quantity->get_int64() < 1) {
      return Result::json(
          R"({"error":"Expected {\"item\": string, \"quantity\": positive integer}","statusCode":400})");
    }
    std::lock_guard lock(mutex_);
    std::string id = std::to_string(orders_.size() + 1);
    orders_.push_back(order(id, std::string(item->get_string()), quantity->get_int64(), 0));
    json::object out{{"statusCode", 201}, {"message", "Order created"}, {"order", orders_.back()}};
    return Result::json(json::serialize(out));
  }

 private:
  json::object order(const std::string& id, const std::string& item, std::int64_t quantity,
                     std::int64_t cents) const {
    return json::object{
        {"id", id}, {"item", item}, {"quantity", quantity}, {"price_cents", cents}, {"currency", currency_}};
  }

  std::mutex mutex_;
  std::string currency_ = "EUR";
  std::vector<json::object> orders_;
};

}  // namespace

WORKGATE_WORKER(Orders, WORKGATE_METHOD(list), WORKGATE_METHOD(get), WORKGATE_METHOD(create))
