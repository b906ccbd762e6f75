// The stage driver with fake stage tables: the order, the three-valued contract, and the head stages that
// run before the body (Expect: 100-continue). No I/O, no sleeps: a "pending" stage resumes when the test
// calls resume().
#include "pipeline/stage_driver.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "http/shard.hpp"
#include "pipeline/gateway_handler.hpp"
#include "pipeline/stage_table.hpp"

namespace workgate::pipeline {
namespace {

std::vector<std::string>& calls() {
  static std::vector<std::string> log;
  return log;
}

Flow head_a(RequestContext&) {
  calls().push_back("head_a");
  return Flow::kContinue;
}
Flow head_pending(RequestContext&) {
  calls().push_back("head_pending");
  return Flow::kPending;
}
Flow head_b(RequestContext&) {
  calls().push_back("head_b");
  return Flow::kContinue;
}
Flow head_answers(RequestContext& exchange) {
  calls().push_back("head_answers");
  exchange.response.status = 401;
  return Flow::kRespond;
}
Flow body_a(RequestContext& exchange) {
  calls().push_back("body_a");
  exchange.response.status = 200;
  return Flow::kContinue;
}
Flow body_pending(RequestContext&) {
  calls().push_back("body_pending");
  return Flow::kPending;
}
Flow body_answers(RequestContext& exchange) {
  calls().push_back("body_answers");
  exchange.response.status = 403;
  return Flow::kRespond;
}
Flow body_z(RequestContext&) {
  calls().push_back("body_z");
  return Flow::kContinue;
}
// Completes synchronously: resumes from inside its own run() before returning kPending.
Flow resumes_at_once(RequestContext& exchange) {
  calls().push_back("resumes_at_once");
  exchange.resume(Flow::kContinue);
  return Flow::kPending;
}
void respond(RequestContext& exchange) {
  calls().push_back("respond " + std::to_string(exchange.response.status));
}

constexpr StageSlot kPendingInHead[] = {
    {"head_a", &head_a}, {"head_pending", &head_pending}, {"head_b", &head_b}, {"body_a", &body_a}};
constexpr StageTable kPendingInHeadTable{kPendingInHead, stages_through(kPendingInHead, "head_b"), &respond};

constexpr StageSlot kAnswerInHead[] = {
    {"head_a", &head_a}, {"head_answers", &head_answers}, {"body_a", &body_a}};
constexpr StageTable kAnswerInHeadTable{kAnswerInHead, stages_through(kAnswerInHead, "head_answers"),
                                        &respond};

constexpr StageSlot kPendingInBody[] = {
    {"head_a", &head_a}, {"body_pending", &body_pending}, {"body_a", &body_a}, {"body_z", &body_z}};
constexpr StageTable kPendingInBodyTable{kPendingInBody, stages_through(kPendingInBody, "head_a"), &respond};

constexpr StageSlot kAnswerInBody[] = {
    {"head_a", &head_a}, {"body_a", &body_a}, {"body_answers", &body_answers}, {"body_z", &body_z}};
constexpr StageTable kAnswerInBodyTable{kAnswerInBody, stages_through(kAnswerInBody, "head_a"), &respond};

constexpr StageSlot kResumesAtOnce[] = {
    {"head_a", &head_a}, {"resumes_at_once", &resumes_at_once}, {"body_a", &body_a}, {"body_z", &body_z}};
constexpr StageTable kResumesAtOnceTable{kResumesAtOnce, stages_through(kResumesAtOnce, "resumes_at_once"),
                                         &respond};

class StageDriverTest : public ::testing::Test {
 protected:
  StageDriverTest() {
    calls().clear();
    source_.publish(std::make_shared<const Snapshot>());
  }

  RequestContext& exchange_for(const StageTable& table) {
    handler_ = std::make_unique<GatewayHandler>(shard_, source_, table);
    exchange_ = std::make_unique<RequestContext>(*handler_);
    exchange_->request().method = "POST";
    exchange_->request().path = "/upload";
    return *exchange_;
  }

  using Calls = std::vector<std::string>;

  http::Shard shard_{0};
  SnapshotSource source_;
  std::unique_ptr<GatewayHandler> handler_;
  std::unique_ptr<RequestContext> exchange_;
};

TEST_F(StageDriverTest, TheGatewayTableAndItsHeadStages) {
  ASSERT_EQ(kGatewayTable.stages.size(), 7u);
  const char* names[] = {"preflight",   "route",     "authenticate", "rate_limit",
                         "pre_process", "integrate", "post_process"};
  for (std::size_t i = 0; i < 7; ++i)
    EXPECT_EQ(kGatewayTable.stages[i].name, names[i]);
  EXPECT_EQ(kGatewayTable.head_stages, 4u) << "the head stages end with rate_limit";
}

TEST_F(StageDriverTest, WithoutHeadRunEveryStageRunsInOrderThenRespond) {
  RequestContext& exchange = exchange_for(kPendingInHeadTable);
  handler_->handle(exchange);
  EXPECT_EQ(calls(), (Calls{"head_a", "head_pending"})) << "pending: nothing after it runs yet";
  exchange.resume(Flow::kContinue);
  EXPECT_EQ(calls(), (Calls{"head_a", "head_pending", "head_b", "body_a", "respond 200"}));
}

TEST_F(StageDriverTest, RespondSkipsTheRemainingStages) {
  RequestContext& exchange = exchange_for(kAnswerInBodyTable);
  handler_->handle(exchange);
  EXPECT_EQ(calls(), (Calls{"head_a", "body_a", "body_answers", "respond 403"}));
}

TEST_F(StageDriverTest, PendingThenContinue) {
  RequestContext& exchange = exchange_for(kPendingInBodyTable);
  handler_->handle(exchange);
  EXPECT_EQ(calls(), (Calls{"head_a", "body_pending"}));
  exchange.resume(Flow::kContinue);
  EXPECT_EQ(calls(), (Calls{"head_a", "body_pending", "body_a", "body_z", "respond 200"}));
}

TEST_F(StageDriverTest, PendingThenRespond) {
  RequestContext& exchange = exchange_for(kPendingInBodyTable);
  handler_->handle(exchange);
  exchange.response.status = 502;
  exchange.resume(Flow::kRespond);
  EXPECT_EQ(calls(), (Calls{"head_a", "body_pending", "respond 502"}));
}

TEST_F(StageDriverTest, AResumeFromInsideTheStageGoesOnWithoutNesting) {
  RequestContext& exchange = exchange_for(kResumesAtOnceTable);
  handler_->handle(exchange);
  EXPECT_EQ(calls(), (Calls{"head_a", "resumes_at_once", "body_a", "body_z", "respond 200"}));
}

// Expect: 100-continue. The head stages run from before_body(); the rest waits for handle().
TEST_F(StageDriverTest, HeadStagesStopBeforeTheBodyStages) {
  RequestContext& exchange = exchange_for(kAnswerInBodyTable);
  handler_->before_body(exchange);
  EXPECT_EQ(calls(), (Calls{"head_a"}));
  handler_->handle(exchange);
  EXPECT_EQ(calls(), (Calls{"head_a", "body_a", "body_answers", "respond 403"})) << "head_a runs once";
}

TEST_F(StageDriverTest, AHeadStageThatAnswersIsSentBeforeTheBody) {
  RequestContext& exchange = exchange_for(kAnswerInHeadTable);
  handler_->before_body(exchange);
  EXPECT_EQ(calls(), (Calls{"head_a", "head_answers", "respond 401"}));
}

// The bug this driver fixes: a pending head stage was taken as done, and the next stages ran at once.
// A pending head stage also holds the upload: no "100 Continue" until it is through.
TEST_F(StageDriverTest, PendingHeadStageIsWaitedForThenTheBodyIsAskedFor) {
  RequestContext& exchange = exchange_for(kPendingInHeadTable);
  EXPECT_EQ(handler_->before_body(exchange), http::BodyWait::kWait);
  EXPECT_EQ(calls(), (Calls{"head_a", "head_pending"})) << "head_b must wait for the pending stage";
  EXPECT_FALSE(exchange.continue_requested()) << "no upload while a head stage may still refuse it";
  exchange.resume(Flow::kContinue);
  EXPECT_EQ(calls(), (Calls{"head_a", "head_pending", "head_b"})) << "the body is read now";
  EXPECT_TRUE(exchange.continue_requested());
  handler_->handle(exchange);
  EXPECT_EQ(calls(), (Calls{"head_a", "head_pending", "head_b", "body_a", "respond 200"}));
}

TEST_F(StageDriverTest, PendingHeadStageThatAnswersIsSentWithoutTheBody) {
  RequestContext& exchange = exchange_for(kPendingInHeadTable);
  EXPECT_EQ(handler_->before_body(exchange), http::BodyWait::kWait);
  exchange.response.status = 429;
  exchange.resume(Flow::kRespond);
  EXPECT_EQ(calls(), (Calls{"head_a", "head_pending", "respond 429"}));
  EXPECT_FALSE(exchange.continue_requested()) << "the body is never asked for";
}

TEST_F(StageDriverTest, HeadStagesThatFinishAtOnceLetTheBodyCome) {
  RequestContext& exchange = exchange_for(kResumesAtOnceTable);
  EXPECT_EQ(handler_->before_body(exchange), http::BodyWait::kProceed);
  EXPECT_EQ(calls(), (Calls{"head_a", "resumes_at_once"}));
  handler_->handle(exchange);
  EXPECT_EQ(calls(), (Calls{"head_a", "resumes_at_once", "body_a", "body_z", "respond 200"}));
}

TEST_F(StageDriverTest, TheNextRequestStartsFromTheFirstStage) {
  RequestContext& exchange = exchange_for(kAnswerInHeadTable);
  handler_->before_body(exchange);
  exchange.reset();
  calls().clear();
  handler_->handle(exchange);
  EXPECT_EQ(calls(), (Calls{"head_a", "head_answers", "respond 401"}));
}

}  // namespace
}  // namespace workgate::pipeline
